"""The simulation stage of ``make demo``: rollout, busy-hour latency and charts on the dev plan."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.markup import escape

from msgfleet.schema import load_plan
from sim.latency import run_latency, write_latency
from sim.rollout import RolloutResult, run_rollout, write_rollout

DEV_PLAN = Path(__file__).resolve().parents[1] / "rollout_plans" / "dev-3-states.yaml"


def stage_simulation(console: Console, workdir: str | Path, plan_path: str | Path = DEV_PLAN) -> Path:
    """Run the plan's rollout and a short latency run; return the results directory."""
    out = Path(workdir) / "sim"
    plan = load_plan(plan_path)
    result = run_rollout(plan)
    write_rollout(result, out)
    short = plan.latency.model_copy(update={"duration_s": 5.0, "warmup_s": 1.0, "replications": 3})
    quick = plan.model_copy(update={"latency": short})
    run = run_latency(quick, workers=1)
    write_latency(run, str(out))
    console.print(f"[bold]simulation[/bold] {plan.name} ({plan.country}): {result.outcome}")
    for k, phase in enumerate(result.timeline.phases, start=1):
        row = result.daily.iloc[min(result.timeline.window(k)[1], len(result.daily) - 1)]
        est = run.overall(k)
        console.print(
            f"  phase {k} {phase.name}: {int(row['live_sites'])} sites, reach {row['reach']:.1%}, "
            f"{row['active_users'] / 1e6:.2f} M active users, busy-hour p95 {est.p95_ms:.0f} ms "
            f"(95% CI {est.ci_low_ms:.0f}-{est.ci_high_ms:.0f})"
        )
    tariff = result.tariffs[-1]
    if tariff.price_per_extra_minute is not None and tariff.price_per_1000_messages is not None:
        console.print(
            f"  tariffs ({tariff.phase}): {tariff.price_per_extra_minute:.3f} {tariff.currency}/extra "
            f"minute, {tariff.price_per_1000_messages:.2f} {tariff.currency}/1,000 extra messages"
        )
    for k, reserved in result.reservations.items():
        if reserved:
            held = ", ".join(f"{r.state} {r.pods} pods/{r.turn_channels} TURN ch" for r in reserved)
            console.print(f"  reserve during phase {k}: {held}")
    print_economics(console, result)
    print_warnings(console, result.warnings() + run.warnings())
    console.print(f"  CSVs and summary.json in {out}")
    return out


def print_economics(console: Console, result: RolloutResult) -> None:
    """The recovery-horizon verdict, red when the cost is not recovered."""
    rec = result.recovery
    style = "green" if rec.recovered else "bold red"
    console.print(f"  [{style}]{escape(rec.line(result.plan.prices.currency))}[/]")


def print_warnings(console: Console, lines: list[str]) -> None:
    """Each warning of a run (capped or overloaded sites, missed SLOs, unrecovered cost), in red."""
    for line in lines:
        console.print(f"  [bold red]WARNING[/] {escape(line)}")
