"""``msgfleet calibrate``: load-test measurements → calibrated plan, re-run through the simulator.

The composition layer between loadtests/ (measurements, no sim import) and sim/ (tariff model,
capacity reservations, latency model): measure the run, write capacity and service time into the
plan, re-run the rollout to recompute tariffs and next-phase reservations, compare the simulator's
predicted delivery p95 with the measured one, and write a report. The plan is written only when
every check passes (enough samples, capacity consistent with the node's CPU, minutes metered when
calls were made, the simulator within the bar at the predicted levels), or with ``force``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer

from msgfleet.errors import MsgfleetError
from msgfleet.schema import Plan

calibrate_app = typer.Typer()

SIM_ERROR_BAR = 0.15  # the bar the issue sets for predicted vs measured p95 delivery latency


class CalibrationRefused(MsgfleetError):
    """A check failed: the plan was not written (the report was)."""


@dataclass
class CalibrationResult:
    plan: Plan
    measurement: Any  # loadtests.calibrate.Measurement
    tariffs_before: list[dict[str, Any]]
    tariffs_after: list[dict[str, Any]]
    comparison: list[dict[str, Any]] = field(default_factory=list)
    checks: list[Any] = field(default_factory=list)  # loadtests.calibrate.Check
    written: bool = False

    @property
    def failed(self) -> list[Any]:
        return [c for c in self.checks if not c.passed]

    @property
    def max_error(self) -> float | None:
        errors = [abs(row["error"]) for row in self.comparison if row["role"] == "predicted"]
        return max(errors) if errors else None


def _tariff_rows(plan: Plan) -> tuple[list[dict[str, Any]], dict[int, dict[str, int]]]:
    from sim.rollout import run_rollout

    result = run_rollout(plan)
    tariffs = [t.record() for t in result.tariffs]
    reserved = {k: {r.state: r.pods for r in rs} for k, rs in result.reservations.items()}
    return tariffs, reserved


def sim_check(comparison: list[dict[str, Any]]) -> Any:
    """The check that the simulator predicts the measured p95 within the bar at every predicted level."""
    from loadtests.calibrate import Check

    predicted = [row for row in comparison if row["role"] == "predicted"]
    if not predicted:
        return Check("simulator within the bar", False, "no predicted level (fewer than two judged levels)")
    worst = max(abs(row["error"]) for row in predicted)
    levels = ", ".join(f"{row['users']} users {row['error']:+.0%}" for row in predicted)
    return Check("simulator within the bar", worst <= SIM_ERROR_BAR, f"{levels} (bar ±{SIM_ERROR_BAR:.0%})")


def calibrate(
    run_dir: str | Path, plan_path: str | Path, out: str | Path, *, force: bool = False
) -> CalibrationResult:
    """Check the run, write ``<out>.md`` (the report) and, when every check passes or ``force``,
    the calibrated plan to ``out``; raise :class:`CalibrationRefused` naming the failed checks
    otherwise."""
    from loadtests.calibrate import calibrated_plan, calls_placed, measure
    from loadtests.report import write_report
    from msgfleet.schema import dump_plan, load_plan

    plan = load_plan(plan_path)
    m = measure(run_dir, plan.slo)
    summary_phase = _run_phase(run_dir)
    draft = calibrated_plan(plan, m)
    before, _ = _tariff_rows(plan)
    after, reserved = _tariff_rows(draft)
    comparison = compare_latency(draft, m, summary_phase)
    errors = [abs(row["error"]) for row in comparison if row["role"] == "predicted"]
    phase_tariff = after[min(summary_phase, len(after)) - 1] if after else None
    worst = max(errors) if errors else None
    final = calibrated_plan(plan, m, reserved_pods=reserved.get(summary_phase, {}), sim_p95_max_error=worst)
    if phase_tariff:
        tariffs = final.tariffs.model_copy(
            update={
                "price_per_extra_minute": phase_tariff["price_per_extra_minute"],
                "price_per_1000_messages": phase_tariff["price_per_1000_messages"],
            }
        )
        final = Plan.model_validate(final.model_copy(update={"tariffs": tariffs}).model_dump())
    checks = [*m.checks(calls_placed(run_dir)), sim_check(comparison)]
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    result = CalibrationResult(final, m, before, after, comparison, checks)
    result.written = force or not result.failed
    report = write_report(
        out.with_suffix(".md"), plan, result.plan, m, before, after, comparison, checks, result.written
    )
    if after:
        chart = _tariff_chart(after, out.with_suffix(".tariffs.png"))
        with report.open("a", encoding="utf-8") as text:
            text.write(f"\n![tariffs per phase after calibration]({chart.name})\n")
    if not result.written:
        out.unlink(missing_ok=True)  # an older calibrated plan there would pass for this run's
        failed = "; ".join(f"{c.name}: {c.detail}" for c in result.failed)
        raise CalibrationRefused(
            f"{run_dir}: plan not written, failed checks: {failed} (report {report}; --force writes it)"
        )
    header = f"Calibrated by `msgfleet calibrate {run_dir}` from {plan_path}."
    if result.failed:
        header += " Written with --force despite: " + ", ".join(c.name for c in result.failed) + "."
    dump_plan(final, out, header=header)
    return result


def _tariff_chart(tariffs: list[dict[str, Any]], path: Path) -> Path:
    """charts/'s tariff figure for the calibrated plan's phases."""
    import pandas as pd
    from matplotlib.figure import Figure

    from charts.money import plot_tariffs

    fig = Figure(figsize=(7, 4), layout="tight")
    plot_tariffs(pd.DataFrame(tariffs), fig.subplots())
    fig.savefig(path, dpi=100)
    return path


def _run_phase(run_dir: str | Path) -> int:
    from loadtests.summary import read_summary

    return int(read_summary(run_dir).get("phase") or 1)


def loopback_plan(plan: Plan) -> Plan:
    """``plan`` as the load test ran it: one pod per site, and no network (all on loopback)."""
    data = plan.model_dump()
    data["network"].update(fiber_us_per_km=1e-9, per_hop_ms=0.0, access_rtt_ms=0.0)
    data["capacity"].update(min_pods=1, max_pods=1)
    return Plan.model_validate(data)


def compare_latency(plan: Plan, m: Any, phase: int = 1) -> list[dict[str, Any]]:
    """Predicted vs measured delivery p95 at (up to) three measured load levels.

    The simulator runs the calibrated plan's phase as the load test ran it (:func:`loopback_plan`) at
    the measured messages/s of each level, the nodes' queues fed with the measured service time and
    other requests per message. The lowest levels (two when there are four or more, else one; the
    ``base`` rows) calibrate the one constant the queue model lacks, the latency outside the queues
    (load generator, HTTP, socket push): the mean of their measured p95 minus the model's p95. A
    constant shifts every quantile by itself, so each level's prediction is the model's p95 plus it;
    up to three levels above the base are predictions and carry the error.
    """
    from sim.latency import predict_p95

    seen = [
        lv for lv in m.levels if lv.delivery_p95_ms and lv.messages_per_s > 0 and lv.verdict != "insufficient"
    ]
    measured = sorted(seen, key=lambda lv: lv.messages_per_s)
    if len(measured) < 2:
        return []
    bases = 2 if len(measured) >= 4 else 1
    base, above = measured[:bases], measured[bases:]
    if len(above) > 3:
        above = [above[0], above[len(above) // 2], above[-1]]
    model = loopback_plan(plan)
    queue = {
        lv.users: predict_p95(model, lv.messages_per_s, phase_index=phase) for lv in measured[:bases] + above
    }
    outside = max(sum(lv.delivery_p95_ms - queue[lv.users].p95_ms for lv in base) / bases, 0.0)
    rows = [_row(lv, queue[lv.users].p95_ms + outside, None, "base", outside) for lv in base]
    for level in above:
        estimate = queue[level.users]
        ci = [round(estimate.ci_low_ms + outside, 2), round(estimate.ci_high_ms + outside, 2)]
        rows.append(_row(level, estimate.p95_ms + outside, ci, "predicted", outside))
    return rows


def _inside(row: dict[str, Any]) -> bool:
    low, high = row["measured_ci_ms"]
    return bool(low <= row["predicted_p95_ms"] <= high)


def _row(level: Any, predicted: float, ci: list[float] | None, role: str, outside: float) -> dict[str, Any]:
    return {
        "role": role,
        "outside_queue_ms": round(outside, 2),
        "users": level.users,
        "messages_per_s": level.messages_per_s,
        "measured_p95_ms": level.delivery_p95_ms,
        "measured_ci_ms": list(level.delivery_p95_ci_ms) if level.delivery_p95_ci_ms else None,
        "predicted_p95_ms": round(predicted, 2),
        "predicted_ci_ms": ci,
        "error": round(predicted / level.delivery_p95_ms - 1, 4),
    }


@calibrate_app.command("calibrate")
def calibrate_command(
    directory: Annotated[Path, typer.Argument(help="Result directory of `msgfleet loadtest`.")],
    plan: Annotated[Path, typer.Option(help="The plan the load test ran.")],
    out: Annotated[Path, typer.Option(help="Calibrated plan YAML to write (report beside it, .md).")],
    force: Annotated[
        bool, typer.Option(help="Write the plan even when a check fails (named in it).")
    ] = False,
) -> None:
    """Check a load-test run and write a calibrated plan (capacity, service time, tariffs, reservations)
    and a report; a failed check writes the report only, naming the check (unless --force)."""
    result = calibrate(directory, plan, out, force=force)
    m = result.measurement
    typer.echo(
        f"capacity: {result.plan.capacity.messages_per_s_per_pod:.2f} messages/s per pod "
        f"(knee {m.messages_per_s_per_pod:.2f} per node; SLO breach: {m.bottleneck})"
        + (
            f", {m.messages_per_s_per_cpu:.1f} messages per node CPU-second"
            if m.messages_per_s_per_cpu
            else ""
        )
    )
    typer.echo(f"service time: mean {m.service_time.mean_ms:.2f} ms, cv {m.service_time.cv:.2f}")
    for check in result.failed:
        typer.echo(f"FORCED past failed check {check.name}: {check.detail}")
    if result.max_error is not None:
        verdict = "within" if result.max_error <= SIM_ERROR_BAR else "OUTSIDE"
        bar = f"{verdict} the {SIM_ERROR_BAR:.0%} bar"
        predicted = [r for r in result.comparison if r["role"] == "predicted"]
        inside = sum(1 for r in predicted if r["measured_ci_ms"] and _inside(r))
        typer.echo(
            f"sim vs measured p95: max error {result.max_error:.1%} ({bar}); {inside} of {len(predicted)}"
            " predictions inside the measured p95's 95% interval"
        )
    typer.echo(f"wrote {out} and {out.with_suffix('.md')}")
