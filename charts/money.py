"""Tariffs per phase and capacity per site."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes


def plot_tariffs(tariffs: pd.DataFrame, ax: Axes) -> Axes:
    """Price per extra minute and per 1,000 extra messages, per phase (``tariffs.csv``)."""
    x = np.arange(len(tariffs))
    currency = tariffs["currency"].iloc[0] if len(tariffs) else ""
    ax.bar(
        x - 0.2,
        tariffs["price_per_extra_minute"].fillna(0),
        width=0.4,
        label="per extra minute",
        color="tab:orange",
    )
    ax.set_ylabel(f"{currency} per extra minute")
    other = ax.twinx()
    other.bar(
        x + 0.2,
        tariffs["price_per_1000_messages"].fillna(0),
        width=0.4,
        label="per 1,000 messages",
        color="tab:blue",
    )
    other.set_ylabel(f"{currency} per 1,000 extra messages")
    ax.set_xticks(x, tariffs["phase"], rotation=20, fontsize=8)
    ax.set_title("Tariffs per phase (cost + margin over billable use)")
    handles = ax.get_legend_handles_labels()[0] + other.get_legend_handles_labels()[0]
    ax.legend(handles, [str(h.get_label()) for h in handles], loc="upper right", fontsize=8)
    return ax


def plot_capacity(sites: pd.DataFrame, ax: Axes) -> Axes:
    """Pods per site in each phase, with the pods reserved for it in the phase before (``sites.csv``)."""
    pods = sites.pivot_table(index="state", columns="phase", values="pods", aggfunc="sum").fillna(0)
    pods = pods.loc[pods.max(axis=1).sort_values(ascending=False).index]
    x = np.arange(len(pods))
    width = 0.8 / max(len(pods.columns), 1)
    for i, phase in enumerate(pods.columns):
        ax.bar(x + i * width, pods[phase], width=width, label=f"phase {phase}")

    def mark(rows: pd.DataFrame, value: str, label: str | None, **style: Any) -> None:
        """One marker per (state, phase) row over its bar, at the row's ``value``."""
        bars = [
            x[list(pods.index).index(r.state)] + list(pods.columns).index(r.phase) * width
            for r in rows.itertuples()
        ]
        ax.scatter(bars, rows[value], label=label, **style)

    if "reserved_pods" in sites:
        mark(
            sites[sites["reserved_pods"] > 0],
            "reserved_pods",
            None,
            marker="_",
            s=80,
            color="black",
            zorder=3,
        )
    flagged = [c for c in ("capped", "over_capacity") if c in sites]
    over = sites[sites[flagged].any(axis=1)] if flagged else sites.iloc[:0]
    if len(over):
        mark(over, "pods", "capped at max_pods / over capacity", marker="v", s=40, color="tab:red", zorder=4)
    ax.set_xticks(
        x + width * (len(pods.columns) - 1) / 2,
        [s.split("-", 1)[1] for s in pods.index],
        rotation=90,
        fontsize=7,
    )
    ax.set_ylabel("pods")
    ax.set_title("Capacity per site (bars: sized pods; dash: placeholders reserved in the phase before)")
    ax.legend(fontsize=8)
    return ax
