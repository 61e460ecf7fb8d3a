"""The shared plan schema: valid plans load, bad ones name file, line and field."""

from pathlib import Path

import pytest

from msgfleet.schema import PlanError, dump_plan, load_plan, parse_plan

PLANS = sorted(Path(__file__).resolve().parents[2].joinpath("rollout_plans").glob("*.yaml"))

MINIMAL = """\
name: t
country: RU
sites:
  - state: RU-MOW
  - state: RU-SPE
phases:
  - name: one
    start_day: 0
    sites: [RU-MOW]
"""


@pytest.mark.parametrize("path", PLANS, ids=[p.name for p in PLANS])
def test_shipped_plans_load(path: Path) -> None:
    plan = load_plan(path)
    assert plan.phases, f"{path.name} has no phases"
    assert 0 < plan.target_coverage <= 1


def test_defaults_and_live_sites() -> None:
    plan = parse_plan(MINIMAL)
    assert plan.target_coverage == 0.60
    assert plan.live_sites(1) == ["RU-MOW"]
    with pytest.raises(IndexError):
        plan.live_sites(2)


@pytest.mark.parametrize(
    ("text", "line", "field", "words"),
    [
        (MINIMAL.replace("RU-SPE", "RU-XYZ"), 5, "sites.1.state", "ISO 3166-2"),
        (MINIMAL.replace("start_day: 0", "start_day: -1"), 8, "phases.0.start_day", "greater than or equal"),
        (MINIMAL + "bogus: 1\n", 10, "bogus", "not permitted"),
        (MINIMAL.replace("country: RU", "country: XX"), 2, "country", "ISO 3166-1"),
        (MINIMAL.replace("[RU-MOW]", "[RU-NVS]"), None, "", "not in sites"),
    ],
)
def test_errors_name_line_and_field(text: str, line: int | None, field: str, words: str) -> None:
    with pytest.raises(PlanError) as info:
        parse_plan(text, "plan.yaml")
    error = info.value
    assert words in str(error)
    assert error.file == "plan.yaml"
    if line is not None:
        assert error.line == line, str(error)
        assert error.field == field
        assert str(error).startswith(f"plan.yaml:{line}: {field}: ")


def test_yaml_syntax_error_names_line() -> None:
    with pytest.raises(PlanError) as info:
        parse_plan("name: t\nsites: [\n", "broken.yaml")
    assert info.value.line is not None and "not valid YAML" in str(info.value)


def test_state_of_other_country_is_refused() -> None:
    with pytest.raises(PlanError, match="not in country RU"):
        parse_plan(MINIMAL.replace("RU-SPE", "US-CA"))


def test_dump_round_trips(tmp_path: Path) -> None:
    plan = parse_plan(MINIMAL)
    out = tmp_path / "p.yaml"
    dump_plan(plan, out, header="calibrated\nfrom run X")
    assert out.read_text().startswith("# calibrated\n# from run X\n")
    assert load_plan(out) == plan


def test_missing_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(PlanError, match="cannot read plan"):
        load_plan(tmp_path / "nope.yaml")
