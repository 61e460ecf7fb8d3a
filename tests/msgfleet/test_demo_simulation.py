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
    assert "recovery horizon 5 years: cost recovered by day" in text  # dev plan and national plan
    assert "WARNING relay ports 49152-49252" in text  # the dev plan's LoadBalancer relay range binds
    assert "national plan ru-national" in text and "reached 60% on day" in text
    assert (tmp_path / "sized-plan.yaml").exists()
    for name in ("rollout.csv", "sites.csv", "tariffs.csv", "latency.csv", "summary.json", "map.png"):
        assert (out / name).exists(), name


def test_pods_are_sized_to_the_load_and_a_capped_site_is_a_loud_warning() -> None:
    from msgfleet.demo import sized_to_slo
    from msgfleet.schema import load_plan
    from sim.demo import DEV_PLAN
    from sim.rollout import run_rollout

    plan = load_plan(DEV_PLAN)
    slow = plan.model_validate(
        {**plan.model_dump(), "capacity": {**plan.capacity.model_dump(), "messages_per_s_per_pod": 5.0}}
    )
    assert any(z.over_capacity for z in run_rollout(slow).sizings)  # the plan's max_pods caps sites
    console = Console(record=True, width=400)
    sized = sized_to_slo(console, slow)
    text = console.export_text()
    assert (
        "WARNING phase" in text and "RU-MOW" in text and f"max_pods raised {slow.capacity.max_pods} →" in text
    )
    sizings = run_rollout(sized).sizings
    assert not any(z.over_capacity for z in sizings)
    assert sized.capacity.max_pods == max(z.pods for z in sizings)  # exactly what the busiest site needs
    quiet = Console(record=True)
    assert sized_to_slo(quiet, plan) == plan and "WARNING" not in quiet.export_text()  # nothing capped
