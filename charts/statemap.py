"""The planners' map: states sized by population, coloured by the phase they go live in."""

from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd
from matplotlib import ticker
from matplotlib.axes import Axes


def _longitude(x: float) -> str:
    """A longitude (possibly shifted past 180 for a map across the antimeridian) as 30°E / 120°W."""
    wrapped = (x + 180) % 360 - 180
    if wrapped in (0, -180):
        return f"{abs(wrapped):g}°"
    return f"{abs(wrapped):g}°{'E' if wrapped > 0 else 'W'}"


def _label_sites(ax: Axes, sites: pd.DataFrame, lon: pd.Series) -> None:
    """Site codes beside their triangles, biggest first; a label that would sit on one already placed
    is moved down in steps (hand-written: matplotlib has no label placement, a few lines suffice)."""
    span = max(float(np.ptp(lon)), float(np.ptp(sites["lat"])) if len(sites) else 1.0, 1.0)
    near = span / 40  # labels closer than this (in degrees) would overprint at the chart's size
    placed: list[tuple[float, float]] = []
    for _, row in sites.sort_values("population", ascending=False).iterrows():
        x, y = float(lon[row.name]), float(row["lat"])
        dy = 3
        for _step in range(6):
            ly = y + dy * near / 4
            if all(abs(x - px) > 2 * near or abs(ly - py) > near for px, py in placed):
                break
            dy -= 6
        placed.append((x, y + dy * near / 4))
        ax.annotate(
            row["state"].split("-", 1)[1],
            (x, y),
            fontsize=6,
            xytext=(3, dy),
            textcoords="offset points",
        )


LINK_STYLES: dict[str, dict] = {
    "gabriel": {"color": "lightgrey", "linewidth": 0.6, "label": "proximity link"},
    "plan": {"color": "lightgrey", "linewidth": 0.6, "label": "plan link"},
    "fibre": {"color": "dimgrey", "linewidth": 1.4, "label": "trunk fibre corridor"},
    "submarine": {"color": "tab:blue", "linewidth": 1.2, "linestyle": "--", "label": "submarine cable"},
    "satellite": {"color": "tab:orange", "linewidth": 1.0, "linestyle": ":", "label": "satellite hop"},
}


def plot_state_map(states: pd.DataFrame, links: pd.DataFrame, ax: Axes) -> Axes:
    """Points at population-weighted centroids (lon/lat), backbone links, sites as triangles.

    ``states``: state, lat, lon, population, live_phase (0 = not covered), is_site (``states.csv``);
    ``links``: a, b and kind (``links.csv``): proximity links thin, trunk corridors thick,
    submarine cables dashed, satellite hops dotted.
    """
    lon = (
        states["lon"].where(states["lon"] >= 0, states["lon"] + 360)
        if np.ptp(states["lon"]) > 180
        else states["lon"]
    )
    where = {s: (x, y) for s, x, y in zip(states["state"], lon, states["lat"], strict=True)}
    kinds = links["kind"] if "kind" in links else pd.Series("gabriel", index=links.index)
    for kind, part in links.groupby(kinds):
        style = LINK_STYLES.get(str(kind), LINK_STYLES["gabriel"])
        for n, (a, b) in enumerate(part[["a", "b"]].itertuples(index=False)):
            (xa, ya), (xb, yb) = where[a], where[b]
            label = style["label"] if n == 0 and kind != "gabriel" else None
            ax.plot(
                [xa, xb], [ya, yb], zorder=1, label=label, **{k: v for k, v in style.items() if k != "label"}
            )
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
    _label_sites(ax, sites, lon)
    ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda x, _pos: _longitude(x)))
    ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda y, _pos: f"{abs(y):g}°{'N' if y >= 0 else 'S'}"))
    ax.set_xlabel("longitude")
    ax.set_ylabel("latitude")
    ax.set_title("States by rollout phase (size: population)")
    ax.legend(loc="best", fontsize=7, markerscale=0.5)
    return ax
