"""Tariffs per phase and capacity per site."""

from __future__ import annotations

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
    if "reserved_pods" in sites:
        reserved = sites[sites["reserved_pods"] > 0]
        for _, row in reserved.iterrows():
            i = list(pods.columns).index(row["phase"])
            ax.scatter(
                x[list(pods.index).index(row["state"])] + i * width,
                row["reserved_pods"],
                marker="_",
                s=80,
                color="black",
                zorder=3,
            )
    flagged = [c for c in ("capped", "over_capacity") if c in sites]
    if flagged:
        over = sites[sites[flagged].any(axis=1)]
        for n, (_, row) in enumerate(over.iterrows()):
            i = list(pods.columns).index(row["phase"])
            ax.scatter(
                x[list(pods.index).index(row["state"])] + i * width,
                row["pods"],
                marker="v",
                s=40,
                color="tab:red",
                zorder=4,
                label="capped at max_pods / over capacity" if n == 0 else None,
            )
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
