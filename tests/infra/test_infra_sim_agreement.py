"""sim/ and infra/ size every site of a sized plan alike: one rule (msgfleet.sizing), with infra/
reading the loads the simulator wrote into the plan file (``infra.design_load``)."""

from __future__ import annotations

from operator import attrgetter
from pathlib import Path

import pytest

from infra.program import plan_sites
from infra.stack import ROOT, StackConfig
from msgfleet.schema import Plan, dump_plan, load_plan
from msgfleet.sizing import flat_share_load

sim_capacity = pytest.importorskip("sim.capacity")

CASES = [("ru-national", 1), ("dev-3-states", 1), ("dev-3-states", 2)]


def _sized_file(plan: Plan, phase: int, directory: Path) -> Plan:
    """What ``msgfleet sim rollout --sized-plan`` writes, read back as infra/ reads it."""
    path = directory / f"{plan.name}-p{phase}.yaml"
    dump_plan(sim_capacity.sized_plan(plan, phase), path)
    return load_plan(path)


SIZE = attrgetter("pods", "turn_channels", "turn_relays", "cpu", "memory_mib")
HELD = attrgetter("phase", "pods", "turn_channels", "cpu")
Sizes = tuple[dict[str, tuple], dict[str, tuple]]


def _sim(plan: Plan, phase: int) -> Sizes:
    live = {z.state: SIZE(z) for z in sim_capacity.site_sizing(plan, phase)}
    return live, {r.state: HELD(r) for r in sim_capacity.reservations(plan, phase)}


def _infra(plan: Plan, phase: int) -> Sizes:
    stack = StackConfig(
        stack="agreement",
        plan_path=ROOT / "unused.yaml",
        phase=phase,
        context="kind",
        dev=True,
        turn_exposure="host_network",
    )
    layout = plan_sites(plan, stack)
    live = {s.state: SIZE(s.sizing) for s in layout.sites}
    return live, {r.state: HELD(r) for r in layout.reservations}


@pytest.fixture(scope="module")
def sized(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, int], Plan]:
    directory = tmp_path_factory.mktemp("sized")
    return {
        (name, phase): _sized_file(load_plan(ROOT / "rollout_plans" / f"{name}.yaml"), phase, directory)
        for name, phase in CASES
    }


@pytest.mark.parametrize(("name", "phase"), CASES)
def test_sim_and_infra_size_every_site_alike(sized: dict, name: str, phase: int) -> None:
    plan = sized[(name, phase)]
    sim_live, sim_held = _sim(plan, phase)
    infra_live, infra_held = _infra(plan, phase)
    assert list(infra_live) == plan.live_sites(phase)
    assert infra_live == sim_live
    assert infra_held == sim_held
    assert list(infra_held) == (list(plan.phases[phase].sites) if phase < len(plan.phases) else [])
    # infra/ sized from the simulator's gravity loads, not from its flat-share fallback
    flat = {s: flat_share_load(plan, plan.infra.design_users[s]) for s in plan.infra.design_load}
    assert any(abs(plan.infra.design_load[s].messages_per_s - flat[s].messages_per_s) > 1e-6 for s in flat)


def test_changing_the_plan_changes_both_alike(sized: dict, tmp_path: Path) -> None:
    plan = sized[("ru-national", 1)]
    before = _infra(plan, 1)
    # more demand: the simulator's loads change, infra/ follows the re-sized plan
    busier = plan.model_dump()
    busier["demand"].update(messages_per_user_day=400.0, call_minutes_per_user_day=3.0)
    busier["infra"].update(design_users={}, design_load={})
    resized = _sized_file(Plan.model_validate(busier), 1, tmp_path)
    # smaller pods: the same loads, the rule alone changes
    smaller = plan.model_dump()
    smaller["capacity"].update(messages_per_s_per_pod=40.0, pod_cpu=0.5)
    for changed in (resized, Plan.model_validate(smaller)):
        after = _infra(changed, 1)
        assert after == _sim(changed, 1)
        live_before, live_after = before[0], after[0]
        assert any(live_after[s][0] > live_before[s][0] for s in live_before), "some site needs more pods"
        assert after[1] != before[1], "the reservations change too"
    loads = plan.infra.design_load
    assert all(resized.infra.design_load[s].erlangs > loads[s].erlangs for s in loads)
