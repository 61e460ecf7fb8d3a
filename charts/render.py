"""Find results in a directory and draw every chart they allow.

Each :class:`Drawer` names the files it needs and builds its figure from them; ``render`` runs
every drawer whose files exist. Extension point: load-test results (loadtests/ writes Locust CSVs
and a ``summary.json``) get their drawers appended to :data:`DRAWERS` the same way.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from charts.coverage import plot_active_users, plot_coverage
from charts.latency import plot_latency_cdf
from charts.money import plot_capacity, plot_tariffs
from charts.statemap import plot_state_map
from charts.sweep import plot_sweep

__all__ = ["DRAWERS", "Drawer", "render"]


@dataclass(frozen=True)
class Drawer:
    name: str  # output file stem
    needs: tuple[str, ...]  # files that must exist in the directory
    draw: Callable[[Path], Figure]


def _summary(directory: Path) -> dict:
    path = directory / "summary.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def _figure(width: float = 8, height: float = 5) -> tuple[Figure, Axes]:
    # A bare Figure (no pyplot): no global state, rendered by the Agg canvas on savefig.
    fig = Figure(figsize=(width, height), layout="constrained")
    return fig, fig.subplots()


def _coverage(directory: Path) -> Figure:
    summary = _summary(directory)
    fig = Figure(figsize=(8, 7), layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True)
    daily = pd.read_csv(directory / "rollout.csv")
    plot_coverage(daily, top, summary.get("target", 0.6), summary.get("target_day"))
    plot_active_users(daily, bottom)
    return fig


def _latency(directory: Path) -> Figure:
    latency = _summary(directory).get("latency", {})
    slo = latency.get("phases", [{}])[0].get("slo_p95_ms") if latency.get("phases") else None
    fig, ax = _figure()
    plot_latency_cdf(pd.read_csv(directory / "latency_cdf.csv"), ax, slo)
    return fig


def _map(directory: Path) -> Figure:
    fig, ax = _figure(10, 6)
    plot_state_map(pd.read_csv(directory / "states.csv"), pd.read_csv(directory / "links.csv"), ax)
    return fig


def _tariffs(directory: Path) -> Figure:
    fig, ax = _figure()
    plot_tariffs(pd.read_csv(directory / "tariffs.csv"), ax)
    return fig


def _capacity(directory: Path) -> Figure:
    fig, ax = _figure(10, 5)
    plot_capacity(pd.read_csv(directory / "sites.csv"), ax)
    return fig


def _sweep(directory: Path) -> Figure:
    fig, ax = _figure()
    plot_sweep(pd.read_csv(directory / "sweep.csv"), ax)
    return fig


DRAWERS: list[Drawer] = [
    Drawer("coverage", ("rollout.csv",), _coverage),
    Drawer("latency_cdf", ("latency_cdf.csv",), _latency),
    Drawer("map", ("states.csv", "links.csv"), _map),
    Drawer("tariffs", ("tariffs.csv",), _tariffs),
    Drawer("capacity", ("sites.csv",), _capacity),
    Drawer("latency_sweep", ("sweep.csv",), _sweep),
]


def render(directory: str | Path, fmt: str = "png", out: str | Path | None = None) -> list[Path]:
    """Draw every chart whose inputs are in ``directory``; return the written files."""
    from charts.errors import ChartsError

    directory = Path(directory)
    if not directory.is_dir():
        raise ChartsError(f"{directory}: not a results directory")
    if fmt not in ("png", "svg"):
        raise ChartsError(f"format must be png or svg, got {fmt!r}")
    target = Path(out) if out else directory
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for drawer in DRAWERS:
        if all((directory / name).exists() for name in drawer.needs):
            fig = drawer.draw(directory)
            path = target / f"{drawer.name}.{fmt}"
            fig.savefig(path, dpi=120)
            written.append(path)
    if not written:
        raise ChartsError(f"{directory}: no results found (rollout.csv, latency_cdf.csv, ...)")
    return written
