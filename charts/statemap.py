"""The planners' map: states sized by population, coloured by the phase they go live in."""

from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.axes import Axes


def plot_state_map(states: pd.DataFrame, links: pd.DataFrame, ax: Axes) -> Axes:
    """Points at population-weighted centroids (lon/lat), backbone links, sites as triangles.

    ``states``: state, lat, lon, population, live_phase (0 = not covered), is_site (``states.csv``);
    ``links``: a, b (``links.csv``).
    """
    lon = (
        states["lon"].where(states["lon"] >= 0, states["lon"] + 360)
        if np.ptp(states["lon"]) > 180
        else states["lon"]
    )
    where = {s: (x, y) for s, x, y in zip(states["state"], lon, states["lat"], strict=True)}
    for a, b in links[["a", "b"]].itertuples(index=False):
        (xa, ya), (xb, yb) = where[a], where[b]
        ax.plot([xa, xb], [ya, yb], color="lightgrey", linewidth=0.6, zorder=1)
    sizes = 400 * np.sqrt(states["population"] / states["population"].max())
    phases = int(states["live_phase"].max())
    cmap = matplotlib.colormaps["viridis"].resampled(max(phases, 1))
    for phase in range(0, phases + 1):
        part = states[states["live_phase"] == phase]
        if part.empty:
            continue
        color = "lightgrey" if phase == 0 else cmap(phase - 1)
        label = "not covered" if phase == 0 else f"live from phase {phase}"
        ax.scatter(
            lon[part.index],
            part["lat"],
            s=sizes[part.index],
            color=color,
            alpha=0.8,
            edgecolor="black",
            linewidth=0.3,
            label=label,
            zorder=2,
        )
    sites = states[states["is_site"]]
    ax.scatter(lon[sites.index], sites["lat"], marker="^", s=30, color="tab:red", label="site", zorder=3)
    for _, row in sites.iterrows():
        ax.annotate(
            row["state"].split("-", 1)[1],
            (lon[row.name], row["lat"]),
            fontsize=6,
            xytext=(3, 3),
            textcoords="offset points",
        )
    ax.set_xlabel("longitude (°E)")
    ax.set_ylabel("latitude (°N)")
    ax.set_title("States by rollout phase (size: population)")
    ax.legend(loc="best", fontsize=7, markerscale=0.5)
    return ax
