"""The calibration report: ``<plan>.md`` with what was measured and what changed, plus a chart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from matplotlib.axes import Axes
from matplotlib.figure import Figure  # the object API: no pyplot state, no display backend

from loadtests.calibrate import Level, Measurement
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
        ("demand", ("reply_ratio",)),
        ("tariffs", ("price_per_extra_minute", "price_per_1000_messages")),
    ):
        for name in names:
            old, new = getattr(getattr(before, section), name), getattr(getattr(after, section), name)
            rows.append((f"{section}.{name}", old, new))
    return rows


def _interval(ci: list[float] | None) -> str:
    return f"{ci[0]:.0f}–{ci[1]:.0f}" if ci else "n/a"


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
) -> Path:
    """Write the Markdown report and ``<name>.levels.png`` beside it."""
    chart = path.with_suffix(".levels.png")
    fig = Figure(figsize=(6, 4), layout="tight")
    plot_levels(m.levels, comparison, before.slo.delivery_p95_ms, fig.subplots())
    fig.savefig(chart, dpi=100)
    cal = after.calibration
    lines = [
        f"# Calibration of {before.name}",
        "",
        f"Run: `{m.run_dir}`, {m.nodes} node process(es). Service time from the "
        f"{m.service_time.basis} ({m.service_time.samples} requests from {m.service_time.users} users up): "
        f"mean {m.service_time.mean_ms:.2f} ms, cv {m.service_time.cv:.2f}, with "
        f"{m.service_time.requests_per_message:.2f} other requests per message. Capacity per pod: "
        f"{m.messages_per_s_per_pod:.2f} messages/s at SLO"
        + (
            f" ({m.supported_users} users, knee search)."
            if m.supported_users
            else " (best level within SLO)."
        ),
        "",
        "## Measured load levels",
        "",
        "| users | messages/s | delivery p95 ms | error rate | within SLO |",
        "|---:|---:|---:|---:|:---:|",
        *(
            f"| {lv.users} | {lv.messages_per_s:.1f} | {_fmt(lv.delivery_p95_ms)} | {lv.error_rate:.4f} | "
            f"{'yes' if lv.passed else 'no'} |"
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
        f"- call minutes per active user-hour: "
        f"{_fmt(cal.call_minutes_per_active_user_hour if cal else None)}",
        f"- messages per CPU-second: {_fmt(m.messages_per_s_per_cpu)}",
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
