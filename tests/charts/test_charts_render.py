"""Charts: each plot_x draws on the Axes it gets; `msgfleet charts DIR` writes PNG or SVG."""

from pathlib import Path

import pandas as pd
import pytest
from matplotlib.figure import Figure

from charts.coverage import plot_coverage
from charts.errors import ChartsError
from charts.latency import plot_latency_cdf
from charts.money import plot_capacity, plot_tariffs
from charts.render import DRAWERS, render
from charts.statemap import plot_state_map
from msgfleet.schema import LatencySim, load_plan
from sim.latency import run_latency, write_latency
from sim.rollout import run_rollout, write_rollout

DEV = Path(__file__).resolve().parents[2] / "rollout_plans" / "dev-3-states.yaml"


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dev")
    plan = load_plan(DEV)
    write_rollout(run_rollout(plan), out)
    quick = plan.model_copy(update={"latency": LatencySim(duration_s=3.0, warmup_s=0.5, replications=2)})
    write_latency(run_latency(quick, workers=1), str(out))
    return out


def _axes():
    return Figure().subplots()


def test_coverage_draws_reach_target_and_phase_lines(results: Path) -> None:
    daily = pd.read_csv(results / "rollout.csv")
    ax = plot_coverage(daily, _axes(), target=0.6, target_day=None)
    assert ax.lines[0].get_ydata().max() == pytest.approx(daily["reach"].max() * 100)
    horizontal = [line for line in ax.lines if list(line.get_ydata()) == [60, 60]]
    assert horizontal, "no 60% target line"
    phase_lines = [line for line in ax.lines if line.get_linestyle() == ":"]
    assert len(phase_lines) == 2


def test_latency_cdf_has_a_line_per_phase(results: Path) -> None:
    cdf = pd.read_csv(results / "latency_cdf.csv")
    ax = plot_latency_cdf(cdf, _axes(), slo_ms=300)
    labels = [line.get_label() for line in ax.lines]
    assert labels[:2] == ["phase 1 capitals", "phase 2 siberia"]


def test_map_points_sized_by_population_with_sites(results: Path) -> None:
    states = pd.read_csv(results / "states.csv")
    ax = plot_state_map(states, pd.read_csv(results / "links.csv"), _axes())
    scatters = {c.get_label(): c for c in ax.collections}
    assert {"not covered", "live from phase 1", "live from phase 2", "site"} <= set(scatters)
    assert len(scatters["site"].get_offsets()) == 3
    sizes = scatters["live from phase 1"].get_sizes()
    assert sizes.max() > sizes.min()  # Moscow is bigger than St Petersburg


def test_map_draws_corridors_cables_and_satellite_hops_apart(results: Path) -> None:
    """links.csv carries each link's kind; the dev plan's RU backbone has all four (docs/SIM.md)."""
    links = pd.read_csv(results / "links.csv")
    assert {"gabriel", "fibre", "submarine", "satellite"} <= set(links["kind"])
    ax = plot_state_map(pd.read_csv(results / "states.csv"), links, _axes())
    styled = {line.get_label(): line for line in ax.lines if not line.get_label().startswith("_")}
    assert styled["submarine cable"].get_linestyle() == "--"
    assert styled["satellite hop"].get_linestyle() == ":"
    assert styled["trunk fibre corridor"].get_linewidth() > 1
    assert len(ax.lines) == len(links)  # one line per link, each legend kind once


def test_tariffs_and_capacity(results: Path) -> None:
    ax = plot_tariffs(pd.read_csv(results / "tariffs.csv"), _axes())
    assert len(ax.patches) == 2
    sites = pd.read_csv(results / "sites.csv")
    ax = plot_capacity(sites, _axes())
    assert sum(p.get_height() for p in ax.patches) == sites["pods"].sum()


@pytest.mark.parametrize("fmt", ["png", "svg"])
def test_render_writes_every_chart(results: Path, tmp_path: Path, fmt: str) -> None:
    written = render(results, fmt, tmp_path)
    expected = [d for d in DRAWERS if all((results / n).exists() for n in d.needs)]
    assert len(expected) == 5  # every sim drawer; the sweep has no sweep.csv here
    assert sorted(p.name for p in written) == sorted(f"{d.name}.{fmt}" for d in expected)
    head = written[0].read_bytes()[:200]
    assert head.startswith(b"\x89PNG") if fmt == "png" else b"<svg" in head or b"<?xml" in head


def test_render_draws_what_it_finds_and_refuses_empty(results: Path, tmp_path: Path) -> None:
    partial = tmp_path / "partial"
    partial.mkdir()
    (partial / "tariffs.csv").write_bytes((results / "tariffs.csv").read_bytes())
    assert [p.name for p in render(partial)] == ["tariffs.png"]
    with pytest.raises(ChartsError, match="no results"):
        render(_empty(tmp_path))
    with pytest.raises(ChartsError, match="png or svg"):
        render(results, "gif")


def _empty(tmp_path: Path) -> Path:
    empty = tmp_path / "empty"
    empty.mkdir()
    return empty


def test_sweep_chart_has_error_bars(tmp_path: Path) -> None:
    from charts.sweep import plot_sweep

    sweep = pd.DataFrame(
        {
            "load_msgs_per_s": [1e3, 2e3],
            "p95_ms": [40.0, 55.0],
            "p95_ci_low_ms": [38.0, 50.0],
            "p95_ci_high_ms": [42.0, 60.0],
            "slo_p95_ms": [300.0, 300.0],
        }
    )
    ax = plot_sweep(sweep, _axes())
    assert list(ax.lines[0].get_ydata()) == [40.0, 55.0]
    (tmp_path / "sweep.csv").write_text(sweep.to_csv(index=False))
    assert [p.name for p in render(tmp_path)] == ["latency_sweep.png"]
