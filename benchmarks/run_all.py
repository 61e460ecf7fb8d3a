"""Run every ``benchmarks/*.py`` (except this file and ``peer_synapse.py``) one after another.

Each script runs in its own process with the repository's interpreter, bounded by ``--timeout``
seconds; the exit status is non-zero if any of them failed. ``make bench`` calls this.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SKIP = {"run_all.py", "peer_synapse.py"}


def scripts() -> list[Path]:
    return sorted(p for p in HERE.glob("*.py") if p.name not in SKIP and not p.name.startswith("_"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=900, help="seconds per script")
    parser.add_argument("only", nargs="*", help="run only scripts whose name contains one of these")
    args = parser.parse_args()
    failed = []
    for script in scripts():
        if args.only and not any(word in script.name for word in args.only):
            continue
        print(f"=== {script.name}", flush=True)
        start = time.monotonic()
        try:
            code = subprocess.run(
                [sys.executable, str(script)], cwd=HERE.parent, timeout=args.timeout
            ).returncode
        except subprocess.TimeoutExpired:
            code = -1
            print(f"{script.name}: timed out after {args.timeout:.0f} s", flush=True)
        print(f"=== {script.name}: exit {code} in {time.monotonic() - start:.1f} s\n", flush=True)
        if code != 0:
            failed.append(script.name)
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
