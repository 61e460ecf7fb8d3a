"""Delivery p95 against load (from ``msgfleet sim sweep``)."""

from __future__ import annotations

import pandas as pd
from matplotlib.axes import Axes


def plot_sweep(sweep: pd.DataFrame, ax: Axes) -> Axes:
    """p95 with its 95% confidence interval per load level (``sweep.csv``), and the SLO."""
    low = sweep["p95_ms"] - sweep["p95_ci_low_ms"]
    high = sweep["p95_ci_high_ms"] - sweep["p95_ms"]
    ax.errorbar(
        sweep["load_msgs_per_s"],
        sweep["p95_ms"],
        yerr=[low, high],
        marker="o",
        capsize=3,
        label="simulated p95 (95% CI)",
    )
    if "max_utilisation" in sweep:
        over = sweep[sweep["max_utilisation"] > 1]
        if len(over):
            ax.scatter(
                over["load_msgs_per_s"],
                over["p95_ms"],
                marker="x",
                s=80,
                color="tab:red",
                zorder=3,
                label="a site over capacity (utilisation > 1)",
            )
    if "slo_p95_ms" in sweep and len(sweep):
        ax.axhline(sweep["slo_p95_ms"].iloc[0], color="tab:red", linestyle="--", linewidth=1, label="p95 SLO")
    # loads span orders of magnitude: a linear axis hides every point under the largest
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("national busy-hour messages/s (log scale)")
    ax.set_ylabel("delivery p95 (ms, log scale)")
    ax.set_title("Delivery latency against load")
    ax.legend(fontsize=8)
    return ax
