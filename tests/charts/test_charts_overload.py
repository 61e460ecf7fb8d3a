"""Charts of an overloaded run keep what matters on the axes and mark the overload."""

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from charts.latency import plot_latency_cdf
from charts.money import plot_capacity
from charts.statemap import _longitude
from charts.sweep import plot_sweep


def _axes():
    return Figure().subplots()


def test_slo_line_stays_on_an_overloaded_cdf() -> None:
    q = np.linspace(0, 1, 11)
    cdf = pd.DataFrame({"phase": 1, "phase_name": "x", "quantile": q, "latency_ms": 5_000 + 90_000 * q})
    ax = plot_latency_cdf(cdf, _axes(), slo_ms=300.0)
    low, high = ax.get_xlim()
    assert low < 300 < high and high > 95_000


def test_sweep_axis_is_logarithmic_and_overloads_are_marked() -> None:
    sweep = pd.DataFrame(
        {
            "load_msgs_per_s": [1_000.0, 200_000.0],
            "p95_ms": [50.0, 60_000.0],
            "p95_ci_low_ms": [45.0, 55_000.0],
            "p95_ci_high_ms": [55.0, 65_000.0],
            "slo_p95_ms": [300.0, 300.0],
            "max_utilisation": [0.4, 3.2],
        }
    )
    ax = plot_sweep(sweep, _axes())
    assert ax.get_xscale() == "log"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any("over capacity" in t for t in labels)


def test_capacity_chart_marks_capped_sites() -> None:
    sites = pd.DataFrame(
        {
            "state": ["US-CA", "US-NJ"],
            "phase": [1, 1],
            "pods": [50, 10],
            "capped": [True, False],
            "over_capacity": [True, False],
            "reserved_pods": [0, 0],
        }
    )
    ax = plot_capacity(sites, _axes())
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "capped at max_pods / over capacity" in labels


def test_longitudes_read_east_and_west() -> None:
    assert _longitude(30) == "30°E"
    assert _longitude(-120) == "120°W"
    assert _longitude(200) == "160°W"  # shifted past 180 for a map across the antimeridian
    assert _longitude(0) == "0°"
