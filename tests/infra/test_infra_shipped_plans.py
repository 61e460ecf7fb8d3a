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
    stack = replace(load_stack_file("national"), plan_path=path, phase=1)
    rendering = render(stack, plan)
    assert not rendering.failures(), f"{path.name}: {rendering.failures()[:5]}"
    assert sorted(rendering.outputs["sites"]) == sorted(plan.live_sites(1))
