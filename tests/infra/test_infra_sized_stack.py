"""The national stack is sized from the simulator: ``msgfleet:sizedPlan`` names one sized plan per
phase (``make sized-plans`` writes them with ``msgfleet sim rollout --sized-plan``); the sizes are
stack outputs and columns of the render's table, and a stack without them says so loudly."""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path

import pytest
from rendered_stacks import rendered_at, shipped_phases
from rich.console import Console

from infra.errors import InfraError
from infra.program import plan_sites
from infra.report import summary_table
from infra.sizing import DESIGN_LOAD
from infra.stack import ROOT, load_stack_file
from msgfleet.schema import load_plan
from msgfleet.sizing import size_site

PHASES = shipped_phases("national")


def _sized_file(phase: int) -> Path:
    pattern = load_stack_file("national").sized_plan
    assert pattern, "Pulumi.national.yaml names its sized plans"
    return ROOT / pattern.format(phase=phase)


@pytest.mark.parametrize("phase", PHASES)
def test_national_sites_take_the_simulators_sizes(phase: int) -> None:
    rendering = rendered_at("national", phase)
    loads = load_plan(_sized_file(phase)).infra.design_load
    plan = load_plan(load_stack_file("national").plan_path)
    assert rendering.outputs["unsized"] == []
    for state, site in rendering.outputs["sites"].items():
        expected = size_site(plan, state, loads[state])
        assert site["sized_from"] == DESIGN_LOAD
        assert (site["node_pods"], site["turn_relays"], site["turn_channels"]) == (
            expected.pods,
            expected.turn_relays,
            expected.turn_channels,
        ), state
        node = next(
            m.manifest
            for m in rendering.manifests
            if m.state == state and m.ident == f"Deployment/{m.manifest['metadata'].get('namespace')}/node"
        )
        assert node["spec"]["replicas"] == expected.pods, state
    if phase == PHASES[-1]:
        assert rendering.outputs["sites"]["RU-MOW"]["node_pods"] > plan.capacity.min_pods, "Moscow is big"
    text = io.StringIO()
    Console(file=text, width=200).print(summary_table(rendering))
    assert "design_load" in text.getvalue() and "NONE" not in text.getvalue()


@pytest.mark.parametrize("phase", PHASES)
def test_shipped_sized_plans_are_the_simulators_current_output(phase: int) -> None:
    capacity = pytest.importorskip("sim.capacity")
    plan = load_plan(load_stack_file("national").plan_path)
    fresh = capacity.sized_plan(plan, phase).infra
    shipped = load_plan(_sized_file(phase)).infra
    assert shipped.design_load == fresh.design_load and shipped.design_users == fresh.design_users, (
        f"{_sized_file(phase).name} is stale: run `make sized-plans`"
    )


def test_a_stack_without_design_load_says_so() -> None:
    stack = replace(load_stack_file("national"), sized_plan=None)
    layout = plan_sites(stack.load_plan(), stack)
    assert layout.unsized == [s.state for s in layout.sites] + [r.state for r in layout.reservations]


def test_render_of_an_unsized_plan_warns_in_the_table_and_a_line(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from msgfleet.cli import app

    result = CliRunner().invoke(app, ["infra", "render", "--stack", "dev", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "WARNING" in result.output and "NOT sized from the simulator" in result.output
    assert "NONE" in result.output, "the table names the source of each size"


def test_a_sized_plan_of_another_phase_is_refused() -> None:
    stack = replace(load_stack_file("national"), phase=2, sized_plan=str(_sized_file(1)))
    with pytest.raises(InfraError, match=r"no load for .* \(sized for another phase"):
        plan_sites(stack.load_plan(), stack)
