"""The calibration report: ``<plan>.md`` with what was measured and what changed, plus a chart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from matplotlib.axes import Axes
from matplotlib.figure import Figure  # the object API: no pyplot state, no display backend

from loadtests.calibrate import Check, Level, Measurement
from msgfleet.schema import Plan


def plot_levels(levels: list[Level], comparison: list[dict[str, Any]], slo_ms: float, ax: Axes) -> Axes:
    """Delivery p95 against messages/s per measured step, predicted points and the SLO line."""
    measured = [lv for lv in levels if lv.delivery_p95_ms is not None]
    points = sorted((lv.messages_per_s, float(lv.delivery_p95_ms or 0)) for lv in measured)
    ax.plot([x for x, _ in points], [y for _, y in points], "o-", label="measured p95")
    if comparison:
        ax.plot(
            [r["messages_per_s"] for r in comparison],
            [r["predicted_p95_ms"] for r in comparison],
            "s",
            label="simulator p95",
        )
    ax.axhline(slo_ms, color="red", linestyle="--", label=f"SLO {slo_ms:.0f} ms")
    ax.set_xlabel("messages/s sent (all nodes)")
    ax.set_ylabel("delivery latency p95 (ms)")
    ax.set_yscale("log")
    ax.legend()
    return ax


def _changed(before: Plan, after: Plan) -> list[tuple[str, Any, Any]]:
    rows = []
    for section, names in (
        ("capacity", ("messages_per_s_per_pod", "service_time_ms_mean", "service_time_cv")),
        ("tariffs", ("price_per_extra_minute", "price_per_1000_messages")),
    ):
        for name in names:
            old, new = getattr(getattr(before, section), name), getattr(getattr(after, section), name)
            rows.append((f"{section}.{name}", old, new))
    return rows


def _interval(ci: list[float] | tuple[float, float] | None) -> str:
    return f"{ci[0]:.4g}–{ci[1]:.4g}" if ci else "n/a"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def write_report(
    path: Path,
    before: Plan,
    after: Plan,
    m: Measurement,
    tariffs_before: list[dict[str, Any]],
    tariffs_after: list[dict[str, Any]],
    comparison: list[dict[str, Any]],
    checks: list[Check],
    written: bool,
) -> Path:
    """Write the Markdown report and ``<name>.levels.png`` beside it."""
    chart = path.with_suffix(".levels.png")
    fig = Figure(figsize=(6, 4), layout="tight")
    plot_levels(m.levels, comparison, before.slo.delivery_p95_ms, fig.subplots())
    fig.savefig(chart, dpi=100)
    cal = after.calibration
    failed = [c for c in checks if not c.passed]
    if not failed:
        outcome = "All checks passed: the calibrated plan was written."
    elif written:
        outcome = (
            "**Written with --force** although checks failed: " + ", ".join(c.name for c in failed) + "."
        )
    else:
        outcome = "**The plan was not written**: " + ", ".join(c.name for c in failed) + " failed."
    breach = m.first_breach
    used = m.node_utilisation(breach) if breach else None
    users = breach.users if breach else "?"
    if m.bottleneck == "none":
        bottleneck = "the SLO held at every judged step: the load never found the limit"
    elif m.bottleneck == "node":
        bottleneck = (
            f"the SLO broke at {users} users with the nodes busy ({_pct(used)} of their CPU): the node"
        )
    elif m.bottleneck.startswith("outside") and breach is not None:
        bottleneck = (
            f"the SLO broke at {users} users while the nodes used only {_pct(used)} of their CPU "
            f"(load generator: {_fmt(breach.generator_cores())} cores of {m.generator_cpus}; nodes waited "
            f"{_fmt(breach.node_wait_s)} s for a CPU against {_fmt(breach.node_cpu_s)} s run): "
            f"{m.bottleneck}; capacity is not lowered from it"
        )
    else:
        bottleneck = m.bottleneck
    lines = [
        f"# Calibration of {before.name}",
        "",
        outcome,
        "",
        f"Run: `{m.run_dir}`, {m.nodes} node process(es) on {m.node_cpus} CPU(s) "
        f"({m.cores_per_node:.2f} core per node). Bottleneck: {bottleneck}.",
        "",
        "## Checks",
        "",
        "| check | result | detail |",
        "|---|:---:|---|",
        *(f"| {c.name} | {'pass' if c.passed else '**FAIL**'} | {c.detail} |" for c in checks),
        "",
        "## Figures and where they come from",
        "",
        "| figure | value | 95% interval | source |",
        "|---|---:|---:|---|",
        *(
            f"| {f.name} | {_fmt(f.value)} | {_interval(f.interval)} | {f.source} |"
            for f in m.figures(before.capacity.pod_cpu)
        ),
        "",
        f"The capacity is what a pod of {before.capacity.pod_cpu:g} core(s) serves with its CPU busy; "
        f"sizing's headroom ({before.capacity.headroom:g}) keeps pods at "
        f"{1 / (1 + before.capacity.headroom):.0%} of it, the plan's target utilisation. "
        + (
            f"The reply ratio is the load's own (it asks for replies at the plan's "
            f"{before.demand.reply_ratio:g}): it checks the mix and stays the plan's figure."
            if m.reply_ratio is not None
            else ""
        ),
        "",
        "## Measured load levels",
        "",
        "| users | messages/s | deliveries | delivery p95 ms | p95 95% CI | error rate | node CPU ms/message "
        "| node CPU used | nodes' run-queue wait s/s | load generator cores | verdict |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|:---:|",
        *(
            f"| {lv.users} | {lv.messages_per_s:.1f} | {lv.deliveries} | {_fmt(lv.delivery_p95_ms)} | "
            f"{_interval(lv.delivery_p95_ci_ms)} | {lv.error_rate:.4f} | "
            f"{_fmt(1000 * lv.node_cpu_s / lv.messages if lv.node_cpu_s and lv.messages else None)} | "
            f"{_pct(m.node_utilisation(lv))} | "
            f"{_fmt(lv.node_wait_s / lv.seconds if lv.node_wait_s is not None else None)} | "
            f"{_fmt(lv.generator_cores())} | {lv.verdict} |"
            for lv in m.levels
        ),
        "",
        f"![delivery p95 by load]({chart.name})",
        "",
        "## Observed use (the node's own metering)",
        "",
        f"- active user-hours: {m.active_user_hours:.3f}",
        f"- messages per active user-hour: {_fmt(cal.messages_per_active_user_hour if cal else None)}",
        f"- replies per active user-hour: {_fmt(cal.replies_per_active_user_hour if cal else None)}",
        f"- call minutes per active user-hour (metered seconds / 60): "
        f"{_fmt(cal.call_minutes_per_active_user_hour if cal else None)}",
        f"- messages per node CPU-second: {_fmt(m.messages_per_s_per_cpu)}",
        "",
        "## Simulator against measurement (delivery p95)",
        "",
    ]
    if comparison:
        lines += [
            "| users | messages/s | measured ms | measured 95% CI | simulated ms | error | role |",
            "|---:|---:|---:|---:|---:|---:|---|",
            *(
                f"| {r['users']} | {r['messages_per_s']:.1f} | {r['measured_p95_ms']:.0f} | "
                f"{_interval(r.get('measured_ci_ms'))} | {r['predicted_p95_ms']:.0f} | {r['error']:+.1%} | "
                f"{r['role']} |"
                for r in comparison
            ),
            "",
            "The lowest levels (base) set the latency outside the nodes' queues; the levels above them are "
            "predictions. The bar: every predicted level within ±15%. The measured p95's own 95% interval "
            "(order statistics of the step's deliveries) shows how much of an error is sampling.",
        ]
    else:
        lines.append("No comparison (fewer than two measured levels with deliveries).")
    lines += [
        "",
        "## What changed in the plan",
        "",
        "| field | before | after |",
        "|---|---:|---:|",
        *(f"| {name} | {_fmt(old)} | {_fmt(new)} |" for name, old, new in _changed(before, after)),
        "",
        "## Tariffs per phase (simulator's tariff model)",
        "",
        "| phase | per extra minute before | after | per 1000 messages before | after |",
        "|---|---:|---:|---:|---:|",
        *(
            f"| {b['phase']} | {_fmt(b['price_per_extra_minute'])} | {_fmt(a['price_per_extra_minute'])} | "
            f"{_fmt(b['price_per_1000_messages'])} | {_fmt(a['price_per_1000_messages'])} |"
            for b, a in zip(tariffs_before, tariffs_after, strict=False)
        ),
        "",
        f"Reserved pods for the next phase: {cal.reserved_pods if cal and cal.reserved_pods else 'none'}",
        "",
    ]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
