"""Per-site sizing of a phase and capacity reservations for the next phase's sites.

For each site: busy-hour messages/s = users × messages/user/day × (1 + reply ratio) × busy-hour
factor / 3600 × (1 + cross-state share, the federated inbound copies); pods = that load with
headroom over the per-pod capacity, clamped to [min_pods, max_pods]; busy-hour call Erlangs =
users × call minutes/day × busy-hour factor / 60; TURN channels by Erlang B at the plan's grade of
service. A site is sized for its users on the last day of the phase (adoption only grows).

infra/ reads :func:`reservations` (placeholder pods for the next phase) and :func:`site_sizing`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from msgfleet.schema import Plan
from sim.errors import SimError
from sim.queueing import busy_hour_erlangs, channels_for_blocking
from sim.timeline import Timeline, build_timeline
from sim.traffic import busy_hour_rate, site_loads

__all__ = [
    "Reservation",
    "SiteSizing",
    "design_users",
    "reservations",
    "site_sizing",
    "size_site",
    "sizings_of",
]


@dataclass(frozen=True)
class SiteSizing:
    """What one site needs in one phase, and what it costs per month."""

    state: str
    phase: int
    users: float
    busy_hour_msgs_per_s: float
    pods: int
    cpu: float
    memory_mib: int
    busy_hour_erlangs: float
    turn_channels: int
    turn_relays: int
    storage_gb: float
    cost_pods: float
    cost_turn: float
    cost_storage: float
    cost_fixed: float
    over_capacity: bool  # needs more than capacity.max_pods

    @property
    def cost_per_month(self) -> float:
        return self.cost_pods + self.cost_turn + self.cost_storage + self.cost_fixed

    def record(self) -> dict[str, float | int | str | bool]:
        return {**asdict(self), "cost_per_month": self.cost_per_month}


@dataclass(frozen=True)
class Reservation:
    """Capacity to hold for a site that opens in the next phase (infra/ places placeholder pods)."""

    state: str
    pods: int
    cpu: float
    memory_mib: int
    turn_channels: int


def size_site(
    plan: Plan, state: str, phase: int, users: float, msgs_per_s: float | None = None
) -> SiteSizing:
    """Size one site for ``users`` active users (with ``capacity.headroom``).

    ``msgs_per_s`` is the site's busy-hour load when known (sim.traffic.site_loads: own users'
    messages plus federated copies by the gravity model); without it, a symmetric federation
    share is assumed: own messages × (1 + cross_state_share).
    """
    demand, cap = plan.demand, plan.capacity
    load = (
        msgs_per_s
        if msgs_per_s is not None
        else float(busy_hour_rate(plan, users)) * (1 + demand.cross_state_share)
    )
    needed = math.ceil(load * (1 + cap.headroom) / cap.messages_per_s_per_pod - 1e-9)
    pods = min(max(needed, cap.min_pods), cap.max_pods)
    erlangs = busy_hour_erlangs(users * demand.call_minutes_per_user_day, demand.busy_hour_factor)
    channels = channels_for_blocking(erlangs * (1 + cap.headroom), plan.calls.grade_of_service)
    storage_gb = users * demand.media_mb_per_user_day * demand.media_retention_days / 1024
    prices = plan.prices
    return SiteSizing(
        state=state,
        phase=phase,
        users=users,
        busy_hour_msgs_per_s=load,
        pods=pods,
        cpu=pods * cap.pod_cpu,
        memory_mib=pods * cap.pod_memory_mib,
        busy_hour_erlangs=erlangs,
        turn_channels=channels,
        turn_relays=math.ceil(channels / cap.turn_channels_per_relay),
        storage_gb=storage_gb,
        cost_pods=pods * prices.pod_month,
        cost_turn=channels * prices.turn_channel_month,
        cost_storage=storage_gb * prices.storage_gb_month,
        cost_fixed=plan.site(state).fixed_cost_per_month,
        over_capacity=needed > cap.max_pods,
    )


def sizings_of(timeline: Timeline, phase_index: int) -> list[SiteSizing]:
    """Sizing of every live site of ``phase_index`` for its users on the phase's last day."""
    _, last = timeline.window(phase_index)
    users = timeline.site_users(phase_index, last)
    loads = site_loads(timeline, phase_index, last)
    plan = timeline.plan
    return [size_site(plan, s, phase_index, users[s], loads[s]) for s in plan.live_sites(phase_index)]


def _reservations_of(timeline: Timeline, phase_index: int) -> list[Reservation]:
    if phase_index >= len(timeline.phases):
        return []
    following = phase_index + 1
    _, last = timeline.window(following)
    users = timeline.site_users(following, last)
    loads = site_loads(timeline, following, last)
    opening = timeline.phases[following - 1].sites
    sized = [size_site(timeline.plan, s, following, users[s], loads[s]) for s in opening]
    return [Reservation(z.state, z.pods, z.cpu, z.memory_mib, z.turn_channels) for z in sized]


def _timeline(plan: Plan, phase_index: int) -> Timeline:
    if not plan.phases:
        raise SimError(f"plan {plan.name!r} has no phases to size")
    if not 1 <= phase_index <= len(plan.phases):
        raise SimError(f"plan {plan.name!r} has phases 1..{len(plan.phases)}, not {phase_index}")
    return build_timeline(plan)


def site_sizing(plan: Plan, phase_index: int) -> list[SiteSizing]:
    """Sizing of the live sites in phase ``phase_index`` (1-based, as ``Plan.live_sites``)."""
    return sizings_of(_timeline(plan, phase_index), phase_index)


def reservations(plan: Plan, phase_index: int) -> list[Reservation]:
    """Capacity to reserve during phase ``phase_index`` for the sites the next phase opens.

    Each is sized (with headroom) for the users it will home at the end of that next phase;
    empty during the last phase.
    """
    return _reservations_of(_timeline(plan, phase_index), phase_index)


def design_users(plan: Plan, phase_index: int) -> dict[str, int]:
    """Active users each live site homes on the last day of ``phase_index`` (``infra.design_users``)."""
    timeline = _timeline(plan, phase_index)
    _, last = timeline.window(phase_index)
    return {site: round(users) for site, users in timeline.site_users(phase_index, last).items()}
