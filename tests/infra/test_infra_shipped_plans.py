"""Every shipped rollout plan renders clean (schema and policies) at each phase on the national stack."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from infra.render import render
from infra.stack import ROOT, load_stack_file
from msgfleet.schema import load_plan

PLANS = sorted((ROOT / "rollout_plans").glob("*.yaml"))


@pytest.mark.parametrize("path", PLANS, ids=[p.name for p in PLANS])
def test_shipped_plan_renders_clean(path: Path) -> None:
    plan = load_plan(path)
    if not plan.phases:
        pytest.skip(f"{path.name} has no phases")
    national = load_stack_file("national")
    sized = national.sized_plan if plan.name == "ru-national" else None  # the stack's own sized plans
    stack = replace(national, plan_path=path, phase=1, sized_plan=sized)
    rendering = render(stack, plan)
    assert not rendering.failures(), f"{path.name}: {rendering.failures()[:5]}"
    assert sorted(rendering.outputs["sites"]) == sorted(plan.live_sites(1))
