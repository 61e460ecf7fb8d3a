"""How big each site is: pure functions over a :class:`Plan` (no engine, no simulator).

Formula (documented in docs/INFRA.md; the same as ``sim.capacity.size_site``, which infra/ may
not import — kept here until the shared sizing moves to msgfleet.schema):

* busy-hour messages/s  λ = users · messages_per_user_day · (1 + reply_ratio) · busy_hour_factor
  / 3600 · (1 + cross_state_share)  (a cross-state message also costs a federated copy);
* node pods  = clamp(⌈λ · (1 + headroom) / messages_per_s_per_pod⌉, min_pods, max_pods);
* TURN: busy-hour Erlangs A = users · call_minutes_per_user_day · busy_hour_factor / 60,
  channels = the fewest N with Erlang B(N, A · (1 + headroom)) ≤ grade_of_service,
  relays = ⌈N / min(channels_per_relay, relay ports per relay)⌉ (≥ 1: every live site can place calls);
* reservation for phase p = the sizing of the sites phase p + 1 opens (or, when the plan carries a
  calibration, its ``reserved_pods`` for that state).

``users`` is ``plan.infra.design_users[state]`` (written by the simulator); a state without a figure
is sized at ``min_pods``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from msgfleet.schema import Plan

TURN_CPU = 0.5
"""CPU cores requested per coturn relay: a starting figure to be replaced by a TURN load test."""
TURN_MEMORY_MIB = 256
"""Memory per coturn relay (coturn keeps ~a few KiB per allocation; 256 MiB holds thousands)."""


def erlang_b(channels: int, erlangs: float) -> float:
    """Blocking probability of an M/M/N/N system, by the stable recursion
    B(0) = 1, B(n) = A·B(n−1) / (n + A·B(n−1)) (e.g. Jagerman 1974, Bell Syst. Tech. J. 53(3)).
    """
    blocking = 1.0
    for n in range(1, channels + 1):
        blocking = erlangs * blocking / (n + erlangs * blocking)
    return blocking


def channels_for(erlangs: float, grade_of_service: float) -> int:
    """The fewest channels whose Erlang B blocking is at most ``grade_of_service`` (≥ 1)."""
    channels, blocking = 0, 1.0
    while blocking > grade_of_service:
        channels += 1
        blocking = erlangs * blocking / (channels + erlangs * blocking)
    return channels


@dataclass(frozen=True)
class SiteSizing:
    """The capacity one state's site is provisioned (or reserved) with."""

    state: str
    users: int
    busy_hour_messages_per_s: float
    node_pods: int
    max_node_pods: int
    pod_cpu: float
    pod_memory_mib: int
    turn_erlangs: float
    turn_channels: int
    turn_relays: int

    @property
    def cpu(self) -> float:
        """CPU cores requested by the node pods and TURN relays together."""
        return self.node_pods * self.pod_cpu + self.turn_relays * TURN_CPU

    @property
    def memory_mib(self) -> int:
        return self.node_pods * self.pod_memory_mib + self.turn_relays * TURN_MEMORY_MIB


def site_sizing(plan: Plan, state: str) -> SiteSizing:
    """Size ``state``'s site from the plan's demand, capacity and design users."""
    plan.site(state)  # KeyError naming the state if it is not a site of the plan
    demand, capacity = plan.demand, plan.capacity
    users = plan.infra.design_users.get(state, 0)
    rate = users * demand.messages_per_user_day * (1 + demand.reply_ratio) * demand.busy_hour_factor / 3600
    rate *= 1 + demand.cross_state_share
    # the epsilon keeps an exact multiple of the per-pod rate from rounding up through float error
    needed = math.ceil(rate * (1 + capacity.headroom) / capacity.messages_per_s_per_pod - 1e-9)
    pods = min(max(needed, capacity.min_pods), capacity.max_pods)
    erlangs = users * demand.call_minutes_per_user_day * demand.busy_hour_factor / 60
    channels = channels_for(erlangs * (1 + capacity.headroom), plan.calls.grade_of_service)
    low, high = plan.infra.turn_relay_ports
    per_relay = min(capacity.turn_channels_per_relay, high - low + 1)  # one relay port per allocation
    relays = max(1, math.ceil(channels / per_relay))
    return SiteSizing(
        state=state,
        users=users,
        busy_hour_messages_per_s=rate,
        node_pods=pods,
        max_node_pods=capacity.max_pods,
        pod_cpu=capacity.pod_cpu,
        pod_memory_mib=capacity.pod_memory_mib,
        turn_erlangs=erlangs,
        turn_channels=channels,
        turn_relays=relays,
    )


@dataclass(frozen=True)
class Reservation:
    """Placeholder capacity held at priority −1 in a next-phase state's cluster."""

    state: str
    phase: int
    pods: int
    pod_cpu: float
    pod_memory_mib: int

    @property
    def cpu(self) -> float:
        return self.pods * self.pod_cpu

    @property
    def memory_mib(self) -> int:
        return self.pods * self.pod_memory_mib


def next_phase_sites(plan: Plan, phase: int) -> list[str]:
    """States the phase after ``phase`` opens (empty after the last phase)."""
    plan.live_sites(phase)  # IndexError naming the valid range
    return list(plan.phases[phase].sites) if phase < len(plan.phases) else []


def reservations(plan: Plan, phase: int) -> list[Reservation]:
    """What to reserve during ``phase`` for the sites of the next phase, in plan order.

    Placeholder pods are node-sized; TURN relays are counted as node-sized pods too (a slight
    over-reservation that keeps one placeholder shape).
    """
    measured = plan.calibration.reserved_pods if plan.calibration else {}
    result = []
    for state in next_phase_sites(plan, phase):
        sizing = site_sizing(plan, state)
        pods = measured.get(state, sizing.node_pods + sizing.turn_relays)
        result.append(Reservation(state, phase + 1, pods, sizing.pod_cpu, sizing.pod_memory_mib))
    return result
