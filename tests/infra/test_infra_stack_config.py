"""The Pulumi project and stack files: what ``pulumi up`` reads, and the errors a bad stack gives."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from infra.errors import InfraError
from infra.stack import ROOT, from_values, load_stack_file
from msgfleet.schema import PlanError, parse_plan


def test_project_file_runs_infra_with_the_repo_venv() -> None:
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    assert project["name"] == "msgfleet" and project["main"] == "infra/"
    assert project["runtime"]["name"] == "python" and project["runtime"]["options"]["virtualenv"] == ".venv"
    assert (ROOT / "infra" / "__main__.py").exists()


@pytest.mark.parametrize("stack", ["dev", "national"])
def test_stack_files_name_plan_phase_image_and_contexts(stack: str) -> None:
    config = load_stack_file(stack)
    assert config.phase == 1 and config.image and not config.image.endswith(":latest")
    assert config.plan_path.is_relative_to(ROOT / "rollout_plans")
    text = (ROOT / f"Pulumi.{stack}.yaml").read_text().lower()
    assert "secure:" not in text and "password" not in text, "secrets are generated, never in the repo"
    if stack == "dev":
        assert config.context and not config.contexts
    else:
        assert config.context is None and config.context_pattern, "national: one cluster per state"


def test_context_precedence() -> None:
    plan = parse_plan((ROOT / "rollout_plans" / "dev-3-states.yaml").read_text())
    stack = from_values("x", {"plan": "p.yaml", "contexts": {"RU-MOW": "a"}, "contextPattern": "k-{state}"})
    assert [stack.context_of(plan, s) for s in ("RU-MOW", "RU-SPE")] == ["a", "k-ru-spe"]
    with pytest.raises(InfraError, match="contextPattern"):
        from_values("x", {"plan": "p.yaml", "contextPattern": "k-{region}"})


def test_a_site_without_context_is_named() -> None:
    plan = parse_plan((ROOT / "rollout_plans" / "dev-3-states.yaml").read_text())
    stack = from_values("x", {"plan": "p.yaml", "contexts": {"RU-MOW": "a"}})
    assert stack.context_of(plan, "RU-MOW") == "a"
    with pytest.raises(InfraError, match="RU-SPE"):
        stack.context_of(plan, "RU-SPE")


@pytest.mark.parametrize(
    ("values", "words"),
    [
        ({}, "msgfleet:plan"),
        ({"plan": "p.yaml", "phase": "first"}, "msgfleet:phase"),
        ({"plan": "p.yaml", "contexts": ["a"]}, "msgfleet:contexts"),
    ],
)
def test_bad_stack_values_name_the_key(values: dict, words: str) -> None:
    with pytest.raises(InfraError, match=words):
        from_values("x", values)


def test_phase_outside_the_plan_is_an_error(tmp_path: Path) -> None:
    stack = from_values("x", {"plan": str(ROOT / "rollout_plans" / "dev-3-states.yaml"), "phase": 7})
    with pytest.raises(InfraError, match=r"phases 1\.\.2"):
        stack.load_plan()


def test_infra_section_rejects_unknown_states() -> None:
    text = (ROOT / "rollout_plans" / "dev-3-states.yaml").read_text()
    text += "infra:\n  design_users: {RU-KDA: 100}\n"
    with pytest.raises(PlanError, match=r"infra\.design_users"):
        parse_plan(text, "plan.yaml")


def test_render_of_a_phase_outside_the_plan_is_an_error() -> None:
    from dataclasses import replace

    from infra.program import plan_sites

    stack = load_stack_file("dev")
    plan = stack.load_plan()
    with pytest.raises(InfraError, match="msgfleet:phase"):
        plan_sites(plan, replace(stack, phase=0))
