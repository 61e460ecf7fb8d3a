"""Sizes and reservations match the plan: expected figures are computed here from the plan's own
numbers (its design load, else its design users with a flat federation share; Erlang B by its
closed form), and changing the plan changes the rendering. The rule's own tests:
tests/msgfleet/test_sizing.py."""

from __future__ import annotations

import math
from dataclasses import replace

from rendered_stacks import stack_and_plan

from infra.program import plan_sites
from infra.render import Rendering, render
from infra.sizing import reservations, site_sizing
from msgfleet.schema import Plan, parse_plan
from msgfleet.sizing import TURN_CPU, TURN_MEMORY_MIB


def _find(rendering: Rendering, state: str, kind: str, name: str) -> dict:
    for item in rendering.by_state()[state]:
        if item.manifest["kind"] == kind and item.manifest["metadata"]["name"] == name:
            return item.manifest
    raise AssertionError(f"{state}: no {kind}/{name}")


def _erlang_b_closed_form(n: int, a: float) -> float:
    """B = (A^n / n!) / sum_k A^k / k!, in logs (independent of the recursion under test)."""
    logs = [k * math.log(a) - math.lgamma(k + 1) for k in range(n + 1)]
    top = max(logs)
    return math.exp(logs[-1] - top) / sum(math.exp(x - top) for x in logs)


def _load(plan: Plan, state: str) -> tuple[float, float]:
    """Busy-hour messages/s and call Erlangs of ``state``: the simulator's, else from design users."""
    if state in plan.infra.design_load:
        load = plan.infra.design_load[state]
        return load.messages_per_s, load.erlangs
    d = plan.demand
    users = plan.infra.design_users.get(state, 0)
    busy = users * d.messages_per_user_day * (1 + d.reply_ratio) * d.busy_hour_factor / 3600
    return busy * (1 + d.cross_state_share), users * d.call_minutes_per_user_day * d.busy_hour_factor / 60


def _expected_pods(plan: Plan, state: str) -> int:
    c = plan.capacity
    busy, _ = _load(plan, state)
    return min(max(math.ceil(busy * (1 + c.headroom) / c.messages_per_s_per_pod), c.min_pods), c.max_pods)


def _expected_relays(plan: Plan, state: str) -> int:
    _, a = _load(plan, state)
    a *= 1 + plan.capacity.headroom
    gos = plan.calls.grade_of_service
    n = math.floor(a)  # below A channels blocking is far above any usable grade of service
    assert a == 0 or _erlang_b_closed_form(n, a) > gos
    while a > 0 and _erlang_b_closed_form(n, a) > gos:
        n += 1
    low, high = plan.infra.turn_relay_ports
    return max(1, math.ceil(n / min(plan.capacity.turn_channels_per_relay, high - low + 1)))


def _expected_placeholders(plan: Plan, state: str) -> int:
    """Node-sized placeholder pods holding the node pods' and TURN relays' CPU and memory."""
    c = plan.capacity
    pods, relays = _expected_pods(plan, state), _expected_relays(plan, state)
    cpu = pods * c.pod_cpu + relays * TURN_CPU
    memory = pods * c.pod_memory_mib + relays * TURN_MEMORY_MIB
    return max(math.ceil(round(cpu / c.pod_cpu, 9)), math.ceil(memory / c.pod_memory_mib))


def test_node_and_turn_replicas_match_the_plan(rendering: Rendering) -> None:
    plan = rendering.plan
    for state in plan.live_sites(rendering.stack.phase):
        node = _find(rendering, state, "Deployment", "node")
        assert node["spec"]["replicas"] == _expected_pods(plan, state), f"{state}: Deployment/node replicas"
        hpa = _find(rendering, state, "HorizontalPodAutoscaler", "node")["spec"]
        assert (hpa["minReplicas"], hpa["maxReplicas"]) == (
            _expected_pods(plan, state),
            plan.capacity.max_pods,
        )
        requests = node["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]
        assert {k: requests[k] for k in ("cpu", "memory")} == {
            "cpu": f"{round(plan.capacity.pod_cpu * 1000)}m",
            "memory": f"{plan.capacity.pod_memory_mib}Mi",
        }
        turn = _find(rendering, state, "Deployment", "turn")
        assert turn["spec"]["replicas"] == _expected_relays(plan, state), f"{state}: Deployment/turn replicas"


def test_reservation_matches_the_next_phase(rendering: Rendering) -> None:
    plan, phase = rendering.plan, rendering.stack.phase
    nxt = plan.phases[phase].sites if phase < len(plan.phases) else []
    for state in nxt:
        pods = _expected_placeholders(plan, state)
        placeholder = _find(rendering, state, "Deployment", "capacity-placeholder")
        assert placeholder["spec"]["replicas"] == pods, f"{state}: placeholders"
        quota = _find(rendering, state, "ResourceQuota", "reservation-quota")["spec"]
        assert quota["hard"]["pods"] == str(pods)
        assert quota["hard"]["requests.cpu"] == f"{round(pods * plan.capacity.pod_cpu * 1000)}m"
        cls = placeholder["spec"]["template"]["spec"]["priorityClassName"]
        assert quota["scopeSelector"]["matchExpressions"] == [
            {"scopeName": "PriorityClass", "operator": "In", "values": [cls]}
        ]
        assert _find(rendering, state, "PriorityClass", cls)["value"] == -1
        assert rendering.outputs["reserved"][state]["pods"] == pods


def test_changing_the_plan_changes_the_rendering() -> None:
    stack, plan = stack_and_plan("dev")
    data = plan.model_dump(mode="json")
    data["capacity"].update(min_pods=4, pod_cpu=1.5, pod_memory_mib=768)
    data["infra"]["design_users"] = {"RU-NVS": 1_000_000}
    changed = Plan.model_validate(data)
    result = render(stack, changed)
    node = _find(result, "RU-MOW", "Deployment", "node")
    assert node["spec"]["replicas"] == 4
    requests = node["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]
    assert {k: requests[k] for k in ("cpu", "memory")} == {
        "cpu": "1500m",
        "memory": "768Mi",
    }
    expected = _expected_placeholders(changed, "RU-NVS")
    assert expected > 4 + 1, "the design users should raise RU-NVS above the minimum"
    assert _find(result, "RU-NVS", "Deployment", "capacity-placeholder")["spec"]["replicas"] == expected
    last = plan_sites(changed, replace(stack, phase=2))
    assert not last.reservations, "the last phase reserves nothing"
    assert [s.state for s in last.sites] == ["RU-MOW", "RU-SPE", "RU-NVS"]


def test_calibrated_reserved_pods_win() -> None:
    text = """\
name: t
country: RU
sites: [{state: RU-MOW}, {state: RU-SPE}]
phases: [{name: a, start_day: 0, sites: [RU-MOW]}, {name: b, start_day: 10, sites: [RU-SPE]}]
calibration:
  run: r
  nodes: 1
  messages_per_s_at_slo: 100
  messages_per_active_user_hour: 2
  replies_per_active_user_hour: 1
  call_minutes_per_active_user_hour: 0.1
  reserved_pods: {RU-SPE: 7}
"""
    plan = parse_plan(text)
    assert [(r.state, r.pods) for r in reservations(plan, 1)] == [("RU-SPE", 7)]
    assert site_sizing(plan, "RU-SPE").pods == plan.capacity.min_pods
