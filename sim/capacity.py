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

import numpy as np

from msgfleet.schema import Plan
from sim.errors import SimError
from sim.queueing import busy_hour_erlangs, channels_for_blocking_array
from sim.timeline import DAYS_PER_MONTH, Timeline, build_timeline
from sim.traffic import busy_hour_rate, site_loads_over

__all__ = [
    "Reservation",
    "SiteSizing",
    "design_users",
    "reservations",
    "site_sizing",
    "size_site",
    "sized_plan",
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


def _size(plan: Plan, users: np.ndarray, load: np.ndarray) -> dict[str, np.ndarray]:
    """The sizing formulas over arrays of users and busy-hour loads (one place for both uses)."""
    demand, cap, prices = plan.demand, plan.capacity, plan.prices
    needed = np.ceil(load * (1 + cap.headroom) / cap.messages_per_s_per_pod - 1e-9).astype(int)
    pods = np.clip(needed, cap.min_pods, cap.max_pods)
    erlangs = busy_hour_erlangs(users * demand.call_minutes_per_user_day, demand.busy_hour_factor)
    channels = channels_for_blocking_array(erlangs * (1 + cap.headroom), plan.calls.grade_of_service)
    storage_gb = users * demand.media_mb_per_user_day * demand.media_retention_days / 1024
    return {
        "needed": needed,
        "pods": pods,
        "erlangs": np.asarray(erlangs),
        "channels": channels,
        "storage_gb": storage_gb,
        "cost_pods": pods * prices.pod_month,
        "cost_turn": channels * prices.turn_channel_month,
        "cost_storage": storage_gb * prices.storage_gb_month,
    }


def _sizings(
    plan: Plan, states: list[str], phase: int, users: np.ndarray, loads: np.ndarray
) -> list[SiteSizing]:
    cap = plan.capacity
    z = _size(plan, users, loads)
    return [
        SiteSizing(
            state=state,
            phase=phase,
            users=float(users[i]),
            busy_hour_msgs_per_s=float(loads[i]),
            pods=int(z["pods"][i]),
            cpu=int(z["pods"][i]) * cap.pod_cpu,
            memory_mib=int(z["pods"][i]) * cap.pod_memory_mib,
            busy_hour_erlangs=float(z["erlangs"][i]),
            turn_channels=int(z["channels"][i]),
            turn_relays=math.ceil(int(z["channels"][i]) / cap.turn_channels_per_relay),
            storage_gb=float(z["storage_gb"][i]),
            cost_pods=float(z["cost_pods"][i]),
            cost_turn=float(z["cost_turn"][i]),
            cost_storage=float(z["cost_storage"][i]),
            cost_fixed=plan.site(state).fixed_cost_per_month,
            over_capacity=bool(z["needed"][i] > cap.max_pods),
        )
        for i, state in enumerate(states)
    ]


def size_site(
    plan: Plan, state: str, phase: int, users: float, msgs_per_s: float | None = None
) -> SiteSizing:
    """Size one site for ``users`` active users (with ``capacity.headroom``).

    ``msgs_per_s`` is the site's busy-hour load when known (sim.traffic.site_loads: own users'
    messages plus federated copies by the gravity model); without it, a symmetric federation
    share is assumed: own messages × (1 + cross_state_share).
    """
    if msgs_per_s is None:
        msgs_per_s = float(busy_hour_rate(plan, users)) * (1 + plan.demand.cross_state_share)
    return _sizings(plan, [state], phase, np.array([users]), np.array([msgs_per_s]))[0]


def _sized_on(timeline: Timeline, phase_index: int, day: int, states: list[str]) -> list[SiteSizing]:
    users, loads = site_loads_over(timeline, phase_index, np.array([day]))
    order = timeline.plan.live_sites(phase_index)
    cols = [order.index(s) for s in states]
    return _sizings(timeline.plan, states, phase_index, users[0, cols], loads[0, cols])


def sizings_of(timeline: Timeline, phase_index: int) -> list[SiteSizing]:
    """Sizing of every live site of ``phase_index`` for its users on the phase's last day."""
    _, last = timeline.window(phase_index)
    return _sized_on(timeline, phase_index, last, timeline.plan.live_sites(phase_index))


def phase_costs(timeline: Timeline, phase_index: int, step_days: int = 30) -> dict[str, float]:
    """Cost of ``phase_index`` over its days, re-sizing the sites every ``step_days`` (pods scale
    with adoption, as an autoscaler would); keys cost_pods, cost_turn, cost_storage, cost_fixed."""
    plan = timeline.plan
    first, last = timeline.window(phase_index)
    starts = np.arange(first, last + 1, step_days)
    ends = np.minimum(starts + step_days - 1, last)  # each slot sized for its last (largest) day
    months = (ends - starts + 1) / DAYS_PER_MONTH
    users, loads = site_loads_over(timeline, phase_index, ends)
    z = _size(plan, users, loads)
    fixed = sum(plan.site(s).fixed_cost_per_month for s in plan.live_sites(phase_index))
    return {
        "cost_pods": float((z["cost_pods"].sum(axis=1) * months).sum()),
        "cost_turn": float((z["cost_turn"].sum(axis=1) * months).sum()),
        "cost_storage": float((z["cost_storage"].sum(axis=1) * months).sum()),
        "cost_fixed": float(fixed * months.sum()),
    }


def _reservations_of(timeline: Timeline, phase_index: int) -> list[Reservation]:
    if phase_index >= len(timeline.phases):
        return []
    following = phase_index + 1
    _, last = timeline.window(following)
    sized = _sized_on(timeline, following, last, timeline.phases[following - 1].sites)
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
    """Users to size each site for in ``phase_index`` (``infra.design_users``): live sites at the
    phase's last day, and the next phase's sites at the end of that phase (their reservation)."""
    timeline = _timeline(plan, phase_index)
    _, last = timeline.window(phase_index)
    users = {site: round(u) for site, u in timeline.site_users(phase_index, last).items()}
    if phase_index < len(timeline.phases):
        _, next_last = timeline.window(phase_index + 1)
        upcoming = timeline.site_users(phase_index + 1, next_last)
        users |= {site: round(upcoming[site]) for site in timeline.phases[phase_index].sites}
    return users


def sized_plan(plan: Plan, phase_index: int) -> Plan:
    """A copy of ``plan`` whose ``infra.design_users`` come from :func:`design_users`."""
    infra = plan.infra.model_copy(update={"design_users": design_users(plan, phase_index)})
    return Plan.model_validate(plan.model_copy(update={"infra": infra}).model_dump())
