"""Site sizing and next-phase reservations: invariants recomputed from the plan's figures."""

from pathlib import Path

import pytest

from msgfleet.schema import load_plan
from msgfleet.sizing import TURN_CPU, TURN_MEMORY_MIB, erlang_b
from sim.capacity import design_load, reservations, site_sizing, size_site
from sim.errors import SimError

DEV = Path(__file__).resolve().parents[2] / "rollout_plans" / "dev-3-states.yaml"


@pytest.fixture(scope="module")
def plan():
    return load_plan(DEV)


def test_site_sizing_covers_live_sites_with_enough_pods(plan) -> None:
    sized = site_sizing(plan, 2)
    assert [z.state for z in sized] == plan.live_sites(2)
    cap = plan.capacity
    for z in sized:
        assert cap.min_pods <= z.pods <= cap.max_pods
        if not z.capped:
            assert z.pods * cap.messages_per_s_per_pod >= z.busy_hour_msgs_per_s * (1 + cap.headroom)
        assert z.turn_relays >= 1
        assert z.cpu == pytest.approx(z.pods * cap.pod_cpu + z.turn_relays * TURN_CPU)
        assert z.memory_mib == z.pods * cap.pod_memory_mib + z.turn_relays * TURN_MEMORY_MIB


def test_turn_channels_are_the_fewest_meeting_the_grade_of_service(plan) -> None:
    gos = plan.calls.grade_of_service
    z = size_site(plan, "RU-MOW", 1, 250_000)
    offered = z.busy_hour_erlangs * (1 + plan.capacity.headroom)
    assert erlang_b(offered, z.turn_channels) <= gos < erlang_b(offered, z.turn_channels - 1)


def test_more_users_never_need_less(plan) -> None:
    small, big = size_site(plan, "RU-MOW", 1, 1e5), size_site(plan, "RU-MOW", 1, 1e6)
    assert big.pods >= small.pods and big.turn_channels > small.turn_channels
    assert big.cost_per_month > small.cost_per_month


def test_reservations_are_for_the_next_phase_sites(plan) -> None:
    reserved = reservations(plan, 1)
    assert [r.state for r in reserved] == plan.phases[1].sites
    assert all(r.pods >= plan.capacity.min_pods and r.turn_channels > 0 for r in reserved)
    assert reservations(plan, len(plan.phases)) == []


def test_unknown_phase_is_a_clear_error(plan) -> None:
    with pytest.raises(SimError, match=r"phases 1\.\.2"):
        site_sizing(plan, 3)


def test_design_users_are_the_users_each_site_is_sized_for(plan) -> None:
    from sim.capacity import design_users

    users = design_users(plan, 2)
    assert list(users) == plan.live_sites(2)
    sized = {z.state: z.users for z in site_sizing(plan, 2)}
    assert users == {s: round(u) for s, u in sized.items()}
    assert users["RU-MOW"] > users["RU-NVS"] > 0


def test_design_users_include_the_next_phase_sites_as_reserved(plan) -> None:
    from sim.capacity import design_users, sized_plan

    users = design_users(plan, 1)
    assert set(users) == {"RU-MOW", "RU-SPE", "RU-NVS"}
    (reserved,) = reservations(plan, 1)
    assert size_site(plan, "RU-NVS", 2, users["RU-NVS"]).turn_channels == reserved.turn_channels
    assert sized_plan(plan, 1).infra.design_users == users


def test_reservation_is_sized_for_the_next_phase_first_year(plan) -> None:
    from msgfleet.sizing import size_site as size_for_load
    from sim.capacity import reservation_day
    from sim.timeline import build_timeline
    from sim.traffic import site_loads

    timeline = build_timeline(plan)
    day = reservation_day(timeline, 1)
    assert day == min(plan.phases[1].start_day + 365, plan.horizon_days)
    (held,) = reservations(plan, 1)
    users = timeline.site_users(2, day)["RU-NVS"]
    load = site_loads(timeline, 2, day)["RU-NVS"]
    expected = size_site(plan, "RU-NVS", 2, users, load)
    assert (held.node_pods, held.turn_relays) == (expected.pods, expected.turn_relays)
    year_end = size_for_load(plan, "RU-NVS", design_load(plan, 2)["RU-NVS"])
    assert held.node_pods <= year_end.pods  # not the phase's last-year load


def test_reservations_are_priced_into_the_phase_that_holds_them(plan) -> None:
    from sim.capacity import phase_costs
    from sim.rollout import run_rollout
    from sim.timeline import DAYS_PER_MONTH, build_timeline

    timeline = build_timeline(plan)
    first, last = timeline.window(1)
    held = sum(r.pods for r in reservations(plan, 1))
    costs = phase_costs(timeline, 1)
    assert costs["cost_reserved"] == pytest.approx(
        held * plan.prices.pod_month * (last - first + 1) / DAYS_PER_MONTH
    )
    assert phase_costs(timeline, 2)["cost_reserved"] == 0.0
    tariffs = run_rollout(plan).tariffs
    assert tariffs[0].cost_reserved == pytest.approx(costs["cost_reserved"])
    assert tariffs[0].cost == pytest.approx(sum(costs.values()))
