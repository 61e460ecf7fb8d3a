"""Delivery-latency CDF per phase."""

from __future__ import annotations

import pandas as pd
from matplotlib import ticker
from matplotlib.axes import Axes


def plot_latency_cdf(cdf: pd.DataFrame, ax: Axes, slo_ms: float | None = None) -> Axes:
    """One CDF line per phase from ``latency_cdf.csv`` (phase, phase_name, quantile, latency_ms)."""
    for (phase, name), data in cdf.groupby(["phase", "phase_name"], sort=True):
        ax.plot(data["latency_ms"], data["quantile"] * 100, label=f"phase {phase} {name}")
    if slo_ms is not None:
        ax.axvline(slo_ms, color="tab:red", linestyle="--", linewidth=1, label=f"p95 SLO {slo_ms:g} ms")
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda x, _pos: f"{x:g}"))
    ax.xaxis.set_minor_formatter(ticker.FuncFormatter(lambda x, _pos: f"{x:g}" if str(x)[0] in "25" else ""))
    if len(cdf):
        # both the curves and the SLO line stay on the axis, however far an overload pushes them apart
        low, high = float(cdf["latency_ms"].min()), float(cdf["latency_ms"].max())
        if slo_ms is not None:
            low, high = min(low, slo_ms), max(high, slo_ms)
        ax.set_xlim(max(low * 0.8, 0.1), high * 1.25)
    ax.axhline(95, color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel("delivery latency (ms, log scale)")
    ax.set_ylabel("% of messages delivered within")
    ax.set_ylim(0, 100)
    ax.set_title("Busy-hour delivery latency")
    ax.legend(loc="lower right", fontsize=8)
    return ax
