"""The load-test stage of ``make demo``: a small fleet, four load levels, calibration, the figures.

``msgfleet.demo`` (the composition root) calls :func:`stage_loadtest` and passes
``msgfleet.calibration.calibrate`` so that calibration re-runs the simulator's tariffs; without it
the stage calibrates with loadtests' own arithmetic only (loadtests does not import sim).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.table import Table

from loadtests.calibrate import calibrated_plan, measure
from loadtests.run import run_loadtest
from msgfleet.schema import dump_plan, load_plan

PLAN = Path(__file__).resolve().parents[1] / "rollout_plans" / "dev-3-states.yaml"
LEVELS = [4, 8, 16, 24]  # the lowest two are the simulator comparison's base, the others predicted
DURATION_S = 18.0


def demo_plan(workdir: Path, plan: Path = PLAN) -> Path:
    """The plan with a brisker mix than real users (so that a few seconds carry enough messages
    and calls to measure), calls short enough to end and be metered. The stage runs fixed levels
    (``LEVELS``), not the knee search: on a busy machine a knee search can break the SLO at its first
    step and leave no step with enough messages to measure the node's CPU per message."""
    data = yaml.safe_load(plan.read_text())
    data["loadtest"] = {
        "weights": {"private_send": 20, "group_send": 8, "read_sync": 30, "call": 5, "idle": 20},
        "think_time_s": [0.3, 1.5],
        "call_duration_s": [2.0, 4.0],
        "group_size": 3,
    }
    path = workdir / "demo-plan.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def stage_loadtest(
    console: Console, workdir: str | Path, calibrate: Callable[[Path, Path, Path], Any] | None = None
) -> dict[str, Any]:
    """Run the stage; return the load-test summary (with ``calibrated_plan`` set to its path)."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    plan_path = demo_plan(workdir)
    out = workdir / "loadtest"
    console.rule(
        f"load test: 2-state fleet, Locust at {', '.join(map(str, LEVELS))} users, {DURATION_S:.0f} s each"
    )
    summary = run_loadtest(out, plan=str(plan_path), levels=LEVELS, duration_s=DURATION_S)
    calibrated = workdir / "calibrated-plan.yaml"
    if calibrate is not None:
        calibrate(out, plan_path, calibrated)
    else:
        plan = load_plan(plan_path)
        dump_plan(calibrated_plan(plan, measure(out, plan.slo)), calibrated)
    _print_figures(console, summary, load_plan(plan_path), load_plan(calibrated))
    console.print(f"results in {out}; calibrated plan {calibrated}")
    return {**summary, "calibrated_plan": str(calibrated)}


def _print_figures(console: Console, summary: dict[str, Any], before: Any, after: Any) -> None:
    server = summary["server"]["total"]
    delivery = summary["delivery"] or {}
    table = Table(title="load test and calibration")
    table.add_column("figure")
    table.add_column("value", justify="right")
    rows = [
        ("simulated users (peak)", summary["users"]),
        ("HTTP requests/s", f"{summary['http_requests_per_s'] or 0:.1f}"),
        ("failures (HTTP / socket)", f"{summary['http_failures']} / {summary['socket_failures']}"),
        ("messages delivered to sockets", summary["message_deliveries"]),
        ("delivery latency p50 / p95 (ms)", f"{delivery.get('p50_ms')} / {delivery.get('p95_ms')}"),
        ("messages stored (node metrics)", server["messages_stored"]),
        ("call seconds metered (node metrics)", server["call_seconds"]),
        ("node CPU seconds", server["cpu_seconds"]),
        ("messages/s per pod: plan → calibrated (node CPU)",
         f"{before.capacity.messages_per_s_per_pod:g} → {after.capacity.messages_per_s_per_pod:g}"),
        ("service time mean (ms) / cv",
         f"{after.capacity.service_time_ms_mean:g} / {after.capacity.service_time_cv:g}"),
    ]  # fmt: skip
    if after.calibration and after.calibration.sim_p95_max_error is not None:
        rows.append(("simulator p95 error (max over levels)", f"{after.calibration.sim_p95_max_error:.0%}"))
    if after.tariffs.price_per_1000_messages is not None:
        rows.append(("price per 1000 extra messages", f"{after.tariffs.price_per_1000_messages:.4g}"))
    for name, value in rows:
        table.add_row(name, str(value))
    console.print(table)
