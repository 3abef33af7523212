"""Contract tests: SPEC §1, §3 and §4 checked the way an outside client sees them."""
