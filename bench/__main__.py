"""Runs every benchmark in turn (`make bench`); each prints its own figures."""
import subprocess
import sys

BENCHMARKS = ["bench.providers_decode", "bench.compare_merge", "bench.chat_stream", "bench.gateway"]


def main() -> int:
    failed = 0
    for module in BENCHMARKS:
        print(f"\n=== {module} ===", flush=True)
        failed += subprocess.call([sys.executable, "-m", module, *sys.argv[1:]]) != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
