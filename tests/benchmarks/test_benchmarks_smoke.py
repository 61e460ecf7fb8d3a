"""A short smoke of every benchmark: each runs end to end on tiny sizes and prints its figures.

The real runs are `make bench` (benchmarks/run_all.py); these only prove the scripts still work.
They run on SQLite (the PostgreSQL URL is taken out of the environment) to stay short.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS = ROOT / "benchmarks"

# script → (tiny arguments, a pattern its output must contain)
SMOKES = {
    "api_fuzz_deep.py": (
        ["--examples", "2", "--phases", "fuzzing", "--max-seconds", "200"],
        r"requests \d+ in \d+ s; node cpu [\d.]+ s.*failures 0",
    ),
    "calls.py": (["--pairs", "1", "--rounds", "1", "--max-seconds", "30"], r"hangup\s+p50\s+[\d.]+ ms"),
    "calibration_fidelity.py": (
        ["--levels", "6,12", "--duration", "15"],
        r"run 1: (simulator p95 error (within|OUTSIDE) the ±15% bar|no comparison)",
    ),
    "fanout.py": (
        ["--subscribers", "200", "--online", "5", "--posts", "1", "--timeout", "60"],
        r"peak_rss_mib",
    ),
    "federation.py": (
        ["--senders", "1", "--messages", "10", "--runs", "1", "--max-seconds", "30"],
        r"3 states, cross-state\s+[\d.]+ msg/s",
    ),
    "federation_calls.py": (["--rounds", "1", "--max-seconds", "60"], r"media .* cached copy .*: \d+ ms"),
    "group_send.py": (
        ["--sizes", "10,100", "--messages", "3", "--repeat", "1"],
        r"cpu per message: 100 vs 10 members = [\d.]+x",
    ),
    "media.py": (["--files", "1", "--size-mb", "0.2", "--ranges", "3", "--max-seconds", "30"], r"range read"),
    "node_send.py": (
        ["--senders", "2", "--messages", "20", "--max-seconds", "30"],
        r"20 msgs in .* msg/s delivered; latency p50",
    ),
    "request_costs.py": (
        ["--users", "4", "--requests", "4", "--repeat", "1"],
        r"WebSocket connect\s+[\d.]+\s+\S+\s+\d+",
    ),
    "sim_speed.py": ([], r"simulated messages/s wall"),
    # Synapse is an optional extra installed by `make bench-peer`; here only its command line is checked.
    "peer_synapse.py": (["--help"], r"--senders .*--room-size|--room-size"),
}


def test_every_benchmark_has_a_smoke() -> None:
    scripts = sorted(
        p.name for p in BENCHMARKS.glob("*.py") if p.name != "run_all.py" and not p.name.startswith("_")
    )
    assert scripts == sorted(SMOKES), "add a smoke for each new benchmark script"


@pytest.mark.parametrize("script", sorted(SMOKES))
def test_benchmark_runs_on_tiny_sizes(script: str, tmp_path: Path) -> None:
    args, pattern = SMOKES[script]
    env = {k: v for k, v in os.environ.items() if k != "MSGFLEET_TEST_DATABASE_URL"}
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"{script} exited {done.returncode}:\n{output[-3000:]}"
    found = re.search(pattern, output, re.S)
    assert found, f"{script} printed no figure matching {pattern!r}:\n{output[-3000:]}"
