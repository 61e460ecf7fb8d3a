"""The demo stage runs end to end on the dev plan and leaves its results and charts."""

from pathlib import Path

from rich.console import Console

from sim.demo import stage_simulation


def test_stage_simulation_writes_results_and_prints_a_summary(tmp_path: Path) -> None:
    console = Console(record=True, width=200)
    out = stage_simulation(console, tmp_path)
    text = console.export_text()
    assert "dev-3-states" in text and "phase 2 siberia" in text and "reserve during phase 1: RU-NVS" in text
    for name in ("rollout.csv", "sites.csv", "tariffs.csv", "latency.csv", "summary.json", "map.png"):
        assert (out / name).exists(), name
