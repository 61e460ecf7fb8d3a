"""Coverage over time, with phase boundaries and the target line."""

from __future__ import annotations

import pandas as pd
from matplotlib.axes import Axes


def plot_coverage(daily: pd.DataFrame, ax: Axes, target: float = 0.6, target_day: int | None = None) -> Axes:
    """Reach (and the plan's coverage metric, if different) per day, from ``rollout.csv``."""
    ax.plot(daily["day"], daily["reach"] * 100, label="reach (live states' population)", color="tab:blue")
    if (daily["coverage"] != daily["reach"]).any():
        ax.plot(daily["day"], daily["coverage"] * 100, label="coverage (active users)", color="tab:green")
    starts = daily.loc[daily["phase"].diff().fillna(daily["phase"]).ne(0), ["day", "phase"]]
    for day, phase in starts.itertuples(index=False):
        if phase > 0:
            ax.axvline(day, color="grey", linestyle=":", linewidth=1)
            ax.annotate(f"phase {int(phase)}", (day, 2), rotation=90, fontsize=7, color="grey")
    ax.axhline(target * 100, color="tab:red", linestyle="--", linewidth=1, label=f"target {target:.0%}")
    if target_day is not None:
        ax.axvline(target_day, color="tab:red", linewidth=0.8, label=f"target reached, day {target_day}")
    ax.set_xlabel("day")
    ax.set_ylabel("% of national population")
    ax.set_ylim(0, 100)
    ax.set_title("Coverage over time")
    ax.legend(loc="lower right", fontsize=8)
    return ax


def plot_active_users(daily: pd.DataFrame, ax: Axes) -> Axes:
    """Active users per day (Bass adoption in live states)."""
    ax.plot(daily["day"], daily["active_users"] / 1e6, color="tab:purple")
    ax.set_xlabel("day")
    ax.set_ylabel("active users (millions)")
    ax.set_title("Active users")
    return ax
