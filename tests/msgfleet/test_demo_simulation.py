"""The demo's simulation stage runs end to end on the dev plan and leaves its results and charts."""

from pathlib import Path

from rich.console import Console

from msgfleet.demo import stage_simulation


def test_stage_simulation_writes_results_and_prints_a_summary(tmp_path: Path) -> None:
    console = Console(record=True, width=200)
    stage_simulation(console, tmp_path)
    out = tmp_path / "sim"
    text = console.export_text()
    assert "dev-3-states" in text and "phase 2 siberia" in text and "reserve during phase 1: RU-NVS" in text
    assert "charts drawn" in text
    assert "national plan ru-national" in text and "reached 60% on day" in text
    assert (tmp_path / "sized-plan.yaml").exists()
    for name in ("rollout.csv", "sites.csv", "tariffs.csv", "latency.csv", "summary.json", "map.png"):
        assert (out / name).exists(), name
