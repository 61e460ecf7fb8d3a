"""infra/'s sizing (which may not import sim/) gives the simulator's pods and TURN channels."""

from __future__ import annotations

import pytest
from rendered_stacks import national_plan_data

from infra.sizing import site_sizing
from msgfleet.schema import Plan


@pytest.mark.parametrize("users", [0, 1_000, 250_000, 2_000_000])
def test_pods_and_channels_match_sim_capacity(users: int) -> None:
    sim_capacity = pytest.importorskip("sim.capacity")
    data = national_plan_data()
    data["infra"]["design_users"] = {"RU-MOW": users}
    plan = Plan.model_validate(data)
    ours = site_sizing(plan, "RU-MOW")
    theirs = sim_capacity.size_site(plan, "RU-MOW", 1, float(users))
    assert (ours.node_pods, ours.turn_channels) == (theirs.pods, theirs.turn_channels), (ours, theirs)
