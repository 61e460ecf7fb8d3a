"""The shared sizing rule: Erlang B against published tables and its closed form, and the rule's
invariants recomputed from the plan's own figures."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest

from msgfleet.schema import Plan, SiteLoad, load_plan
from msgfleet.sizing import (
    TURN_CPU,
    TURN_MEMORY_MIB,
    SizingError,
    call_erlangs,
    channels_for_blocking,
    channels_for_blocking_array,
    erlang_b,
    flat_share_load,
    messages_sent_per_s,
    reservation,
    size_loads,
    size_site,
)

DEV = Path(__file__).resolve().parents[2] / "rollout_plans" / "dev-3-states.yaml"

ERLANG_B_TABLE = [
    (int(row["channels"]), float(row["blocking"]), float(row["traffic"]))
    for row in csv.DictReader(
        line
        for line in (Path(__file__).resolve().parents[1] / "data" / "erlang_b_table.csv").open()
        if not line.startswith("#")
    )
]  # Iversen's Erlang B table (source in the file)


@pytest.fixture(scope="module")
def plan() -> Plan:
    return load_plan(DEV)


def _erlang_b_closed_form(a: float, n: int) -> float:
    """B = (A^n / n!) / sum_k A^k / k!, in logs (independent of the recursion under test)."""
    logs = [k * math.log(a) - math.lgamma(k + 1) for k in range(n + 1)]
    top = max(logs)
    return math.exp(logs[-1] - top) / sum(math.exp(x - top) for x in logs)


@pytest.mark.parametrize(("channels", "blocking", "traffic"), ERLANG_B_TABLE)
def test_erlang_b_matches_the_published_table(channels: int, blocking: float, traffic: float) -> None:
    assert erlang_b(traffic, channels) == pytest.approx(blocking, rel=0.03)
    assert channels_for_blocking(traffic * 0.999, blocking) == channels


@pytest.mark.parametrize(("erlangs", "channels"), [(1.0, 5), (5.0, 11), (10.0, 18)])
def test_erlang_b_matches_the_p01_table_and_the_closed_form(erlangs: float, channels: int) -> None:
    """Channels for 1% blocking; the table values are the classic Erlang B table's (P.01 column)."""
    assert channels_for_blocking(erlangs, 0.01) == channels
    assert erlang_b(erlangs, channels) == pytest.approx(_erlang_b_closed_form(erlangs, channels), rel=1e-9)


def test_erlang_b_exact_small_case_and_stability() -> None:
    # B(A=2, N=3) = (8/6) / (1 + 2 + 2 + 8/6) = 4/19.
    assert erlang_b(2.0, 3) == pytest.approx(4 / 19)
    big = erlang_b(9000.0, 10000)  # the recursion needs no factorials: no overflow
    assert 0 <= big < 1e-6
    assert erlang_b(0.0, 4) == 0.0


@pytest.mark.parametrize("gos", [0.001, 0.01, 0.05])
def test_vectorised_channel_search_equals_the_recursion(gos: float) -> None:
    traffic = np.concatenate(
        [[0.0, 1e-6, 0.01, 0.5, 4.46, 84.1, 3000.0, 20000.0], np.random.default_rng(2).uniform(0, 5000, 200)]
    )
    expected = [channels_for_blocking(a, gos) for a in traffic]
    assert channels_for_blocking_array(traffic, gos).tolist() == expected


def test_invalid_inputs_are_errors() -> None:
    with pytest.raises(SizingError, match="grade of service"):
        channels_for_blocking(5.0, 1.5)
    with pytest.raises(SizingError, match="grade of service"):
        channels_for_blocking_array([5.0], 0.0)
    with pytest.raises(SizingError, match=">= 0 Erlang"):
        erlang_b(-1.0, 3)
    with pytest.raises(SizingError, match=">= 0 Erlang"):
        channels_for_blocking_array([1.0, -1.0], 0.01)


def test_busy_hour_load_of_users(plan: Plan) -> None:
    d = plan.demand
    # 1,000 users × 6 min/day, 10% in the busy hour: 600 min in 60 min = 10 Erlang.
    six_minutes = d.model_copy(update={"call_minutes_per_user_day": 6.0, "busy_hour_factor": 0.1})
    assert call_erlangs(six_minutes, 1000.0) == pytest.approx(10.0)
    sent = 1000 * d.messages_per_user_day * (1 + d.reply_ratio) * d.busy_hour_factor / 3600
    assert messages_sent_per_s(d, 1000.0) == pytest.approx(sent)
    flat = flat_share_load(plan, 1000)
    assert flat.messages_per_s == pytest.approx(sent * (1 + d.cross_state_share))
    assert flat.erlangs == pytest.approx(1000 * d.call_minutes_per_user_day * d.busy_hour_factor / 60)


def test_pods_are_the_fewest_with_headroom_within_the_bounds(plan: Plan) -> None:
    cap = plan.capacity
    loads = np.array([0.0, 1.0, cap.messages_per_s_per_pod, 10 * cap.messages_per_s_per_pod, 1e7])
    z = size_loads(plan, loads, np.zeros_like(loads))
    for load, needed, pods in zip(loads, z.needed_pods, z.pods, strict=True):
        assert needed * cap.messages_per_s_per_pod >= load * (1 + cap.headroom) * (1 - 1e-12)
        assert needed == 0 or (needed - 1) * cap.messages_per_s_per_pod < load * (1 + cap.headroom)
        assert pods == min(max(needed, cap.min_pods), cap.max_pods)
    assert z.pods[0] == cap.min_pods and z.pods[-1] == cap.max_pods


def test_turn_channels_meet_the_grade_of_service_and_relays_hold_them(plan: Plan) -> None:
    gos, headroom = plan.calls.grade_of_service, plan.capacity.headroom
    low, high = plan.infra.turn_relay_ports
    per_relay = min(plan.capacity.turn_channels_per_relay, high - low + 1)
    erlangs = np.array([0.0, 3.0, 250.0, 4000.0])
    z = size_loads(plan, np.zeros_like(erlangs), erlangs)
    for a, n, relays in zip(erlangs * (1 + headroom), z.turn_channels, z.turn_relays, strict=True):
        assert erlang_b(a, n) <= gos < erlang_b(a, n - 1)
        assert relays == max(1, math.ceil(n / per_relay))
    narrow = Plan.model_validate(
        plan.model_dump() | {"infra": plan.infra.model_dump() | {"turn_relay_ports": (low, low + 9)}}
    )
    assert size_loads(narrow, [0.0], [4000.0]).turn_relays[0] == math.ceil(z.turn_channels[-1] / 10)


def test_cpu_and_memory_count_node_pods_and_relays(plan: Plan) -> None:
    cap = plan.capacity
    size = size_site(plan, "RU-MOW", SiteLoad(messages_per_s=3000.0, erlangs=900.0))
    assert size.cpu == pytest.approx(size.pods * cap.pod_cpu + size.turn_relays * TURN_CPU)
    assert size.memory_mib == size.pods * cap.pod_memory_mib + size.turn_relays * TURN_MEMORY_MIB
    assert size.turn_relays > 1 and not size.over_capacity


def test_reservation_holds_pods_and_relays_unless_calibrated(plan: Plan) -> None:
    cap = plan.capacity
    size = size_site(plan, "RU-NVS", SiteLoad(messages_per_s=2000.0, erlangs=300.0))
    held = reservation(plan, 2, size)
    assert (held.state, held.phase) == ("RU-NVS", 2)
    assert held.cpu == pytest.approx(held.pods * cap.pod_cpu)
    assert held.memory_mib == held.pods * cap.pod_memory_mib
    # the fewest node-sized placeholders that hold the node pods and the TURN relays
    assert held.cpu >= size.pods * cap.pod_cpu + size.turn_relays * TURN_CPU
    assert held.memory_mib >= size.pods * cap.pod_memory_mib + size.turn_relays * TURN_MEMORY_MIB
    assert (held.pods - 1) * cap.pod_cpu < size.cpu or (held.pods - 1) * cap.pod_memory_mib < size.memory_mib
    assert (held.node_pods, held.turn_relays) == (size.pods, size.turn_relays)  # sized separately
    assert size.pods <= held.pods <= size.pods + size.turn_relays  # relays are smaller than node pods
    assert held.turn_channels == size.turn_channels
    calibration = {
        "run": "r",
        "nodes": 1,
        "messages_per_s_at_slo": 100,
        "messages_per_active_user_hour": 2,
        "reserved_pods": {"RU-NVS": 7},
    }
    calibrated = Plan.model_validate(plan.model_dump() | {"calibration": calibration})
    assert reservation(calibrated, 2, size).pods == 7
