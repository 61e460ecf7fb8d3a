"""Benchmark the simulator against measurement: its delivery p95 error at three predicted load levels.

A two-node fleet (phase 1 of the dev plan, the demo's brisk mix) runs fixed load levels one after the
other, ``--duration`` seconds each (90 s by default; the first two levels are the base, which sets the
latency outside the nodes' queues, the next three are predicted). Calibration's own arithmetic then
measures the run (node CPU per request from /proc, other requests per message) and ``sim.latency``
predicts each level's p95 (``msgfleet.calibration.compare_latency``). Prints, per level, the measured
p95 with its 95% interval, the simulated p95 and the error, the nodes' CPU per message and their
run-queue wait (the machine's share of the latency), and whether every predicted level is within the
bar (±15%). ``--runs 2`` repeats the whole run: the bar is two runs out of two.

    python benchmarks/calibration_fidelity.py [--levels 5,10,20,30,45] [--duration 90] [--runs 1]

Results go to ``out/calibration_fidelity/run-N`` (Locust CSVs, steps.csv, summary.json, fidelity.json).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from loadtests.calibrate import calibrated_plan, measure  # noqa: E402
from loadtests.demo import demo_plan  # noqa: E402
from loadtests.errors import LoadTestError  # noqa: E402
from loadtests.run import run_loadtest  # noqa: E402
from msgfleet.calibration import SIM_ERROR_BAR, compare_latency, sim_check  # noqa: E402
from msgfleet.schema import load_plan  # noqa: E402


def one_run(out: Path, levels: list[int], duration_s: float) -> dict[str, Any]:
    """Run the levels, calibrate from them and compare the simulator with each measured p95."""
    out.mkdir(parents=True, exist_ok=True)
    plan_path = demo_plan(out)
    plan = load_plan(plan_path)
    started = time.monotonic()
    run_loadtest(out / "load", plan=str(plan_path), levels=levels, duration_s=duration_s, quiet=True)
    wall = time.monotonic() - started
    shutil.rmtree(out / "load" / "fleet", ignore_errors=True)  # node databases: not results
    m = measure(out / "load", plan.slo)
    rows = compare_latency(calibrated_plan(plan, m), m)
    check = sim_check(rows)
    by_users = {lv.users: lv for lv in m.levels}
    for row in rows:
        level = by_users[row["users"]]
        cpu, sent = level.node_cpu_s, level.messages
        row["node_cpu_ms_per_message"] = round(1000 * cpu / sent, 2) if cpu and sent else None
        row["node_wait_s_per_s"] = round(level.node_wait_s / level.seconds, 3) if level.node_wait_s else None
        row["deliveries"] = level.deliveries
    result = {
        "levels": levels,
        "duration_s": duration_s,
        "wall_s": round(wall, 1),
        "judged": {lv.users: lv.verdict for lv in m.levels},
        "bottleneck": m.bottleneck,
        "service_time_ms": m.service_time.mean_ms,
        "rows": rows,
        "within_bar": check.passed,
        "check": check.detail,
    }
    (out / "fidelity.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


def show(run: int, result: dict[str, Any]) -> None:
    res = result
    print(
        f"run {run}: levels {res['levels']} × {res['duration_s']:.0f} s in {res['wall_s']:.0f} s wall; "
        f"service time {res['service_time_ms']:.2f} ms CPU per request; SLO breach: {res['bottleneck']}"
    )
    columns = (
        "role",
        "users",
        "msg/s",
        "deliv",
        "p95 ms",
        "95% CI",
        "sim p95 ms",
        "error",
        "CPU ms/msg",
        "runq s/s",
    )
    print("".join(f"{c:>12}" for c in columns))
    for r in result["rows"]:
        ci = r["measured_ci_ms"]
        cells = (
            r["role"],
            r["users"],
            f"{r['messages_per_s']:.2f}",
            r["deliveries"],
            f"{r['measured_p95_ms']:.0f}",
            f"{ci[0]:.0f}-{ci[1]:.0f}" if ci else "n/a",
            f"{r['predicted_p95_ms']:.0f}",
            f"{r['error']:+.1%}",
            "-" if r["node_cpu_ms_per_message"] is None else f"{r['node_cpu_ms_per_message']:.1f}",
            "-" if r["node_wait_s_per_s"] is None else f"{r['node_wait_s_per_s']:.2f}",
        )
        print("".join(f"{c!s:>12}" for c in cells))
    verdict = "within" if result["within_bar"] else "OUTSIDE"
    bar = f"±{SIM_ERROR_BAR:.0%} bar"
    print(f"run {run}: simulator p95 error {verdict} the {bar} at the predicted levels: {result['check']}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default="5,10,20,30,45", help="user counts; the first two are the base")
    parser.add_argument("--duration", type=float, default=90.0, help="seconds per level")
    parser.add_argument("--runs", type=int, default=1, help="whole runs (the bar: every run within it)")
    parser.add_argument("--out", type=Path, default=Path("out") / "calibration_fidelity")  # git-ignored
    args = parser.parse_args()
    levels = [int(x) for x in args.levels.split(",")]
    results = []
    for run in range(1, args.runs + 1):
        try:
            result = one_run(args.out / f"run-{run}", levels, args.duration)
        except LoadTestError as exc:  # e.g. no level within the SLO with enough samples: say so, go on
            print(f"run {run}: no comparison: {exc}")
            continue
        show(run, result)
        results.append(result)
    errors = [abs(r["error"]) for res in results for r in res["rows"] if r["role"] == "predicted"]
    within = sum(res["within_bar"] for res in results)
    if errors:
        median, worst = statistics.median(errors), max(errors)
        runs = f"{within} of {len(results)} runs within the bar"
        print(f"predicted levels: median |p95 error| {median:.1%}, worst {worst:.1%}; {runs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
