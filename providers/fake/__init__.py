"""A fake model provider speaking every wire protocol on loopback, for tests, benchmarks and offline demos."""
