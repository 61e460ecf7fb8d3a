"""Per-site sizing of a phase and capacity reservations for the next phase's sites.

sim/ supplies each site's busy-hour load: what its users send plus the federated copies it
receives for them, by the gravity model (``sim.traffic``), and its users' call Erlangs. The rule
that turns a load into pods, TURN channels and relays, CPU/memory and reservations is
:mod:`msgfleet.sizing`, shared with infra/; storage and costs are the simulator's. A site is sized
for its users on the last day of the phase (adoption only grows).

:func:`sized_plan` writes the loads into ``infra.design_load`` (and ``infra.design_users``), from
which infra/ sizes the same sites with the same rule.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from msgfleet.schema import Plan, SiteLoad
from msgfleet.sizing import Reservation, call_erlangs, flat_share_load, reservation, size_loads
from msgfleet.sizing import size_site as size_for_load
from sim.errors import SimError
from sim.timeline import DAYS_PER_MONTH, DAYS_PER_YEAR, Timeline, build_timeline
from sim.traffic import site_loads_over

RESERVATION_YEARS = 1
"""Reservations hold the next phase's sites for their load this long after they open."""

__all__ = [
    "Reservation",
    "SiteSizing",
    "design_load",
    "design_users",
    "recovery_window",
    "reservation_day",
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
    needed_pods: int  # before clamping to [min_pods, max_pods]
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
    utilisation: float  # busy-hour demand over the pods' capacity (> 1: overloaded)
    capped: bool  # needs more than capacity.max_pods (pods held at max_pods)
    over_capacity: bool  # demand exceeds what the pods serve (utilisation > 1)

    @property
    def cost_per_month(self) -> float:
        return self.cost_pods + self.cost_turn + self.cost_storage + self.cost_fixed

    def record(self) -> dict[str, float | int | str | bool]:
        return {**asdict(self), "cost_per_month": self.cost_per_month}


def _size(plan: Plan, users: np.ndarray, loads: np.ndarray) -> dict[str, np.ndarray]:
    """The shared rule over arrays of users and busy-hour loads, plus storage and costs."""
    demand, prices = plan.demand, plan.prices
    erlangs = call_erlangs(demand, users)
    z = size_loads(plan, loads, erlangs)
    storage_gb = users * demand.media_mb_per_user_day * demand.media_retention_days / 1024
    return {
        "needed": z.needed_pods,
        "pods": z.pods,
        "cpu": z.cpu,
        "memory_mib": z.memory_mib,
        "erlangs": np.asarray(erlangs),
        "channels": z.turn_channels,
        "relays": z.turn_relays,
        "storage_gb": storage_gb,
        "cost_pods": z.pods * prices.pod_month,
        "cost_turn": z.turn_channels * prices.turn_channel_month,
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
            needed_pods=int(z["needed"][i]),
            pods=int(z["pods"][i]),
            cpu=float(z["cpu"][i]),
            memory_mib=int(z["memory_mib"][i]),
            busy_hour_erlangs=float(z["erlangs"][i]),
            turn_channels=int(z["channels"][i]),
            turn_relays=int(z["relays"][i]),
            storage_gb=float(z["storage_gb"][i]),
            cost_pods=float(z["cost_pods"][i]),
            cost_turn=float(z["cost_turn"][i]),
            cost_storage=float(z["cost_storage"][i]),
            cost_fixed=plan.site(state).fixed_cost_per_month,
            utilisation=float(loads[i] / (z["pods"][i] * cap.messages_per_s_per_pod)),
            capped=bool(z["needed"][i] > cap.max_pods),
            over_capacity=bool(loads[i] > z["pods"][i] * cap.messages_per_s_per_pod),
        )
        for i, state in enumerate(states)
    ]


def size_site(
    plan: Plan, state: str, phase: int, users: float, msgs_per_s: float | None = None
) -> SiteSizing:
    """Size one site for ``users`` active users (with ``capacity.headroom``).

    ``msgs_per_s`` is the site's busy-hour load when known (sim.traffic.site_loads: own users'
    messages plus federated copies by the gravity model); without it, a symmetric federation
    share is assumed (``msgfleet.sizing.flat_share_load``).
    """
    if msgs_per_s is None:
        msgs_per_s = flat_share_load(plan, users).messages_per_s
    return _sizings(plan, [state], phase, np.array([users]), np.array([msgs_per_s]))[0]


def sizings_of(timeline: Timeline, phase_index: int) -> list[SiteSizing]:
    """Sizing of every live site of ``phase_index`` for its users on the phase's last day."""
    _, last = timeline.window(phase_index)
    users, loads = site_loads_over(timeline, phase_index, np.array([last]))
    return _sizings(timeline.plan, timeline.plan.live_sites(phase_index), phase_index, users[0], loads[0])


COST_KEYS = ("cost_pods", "cost_turn", "cost_storage", "cost_fixed", "cost_reserved")


def phase_slots(timeline: Timeline, phase_index: int, step_days: int = 30) -> pd.DataFrame:
    """Cost of ``phase_index`` in slots of up to ``step_days`` (cut at year boundaries), re-sizing
    the sites each slot (pods scale with adoption, as an autoscaler would; a slot is sized for its
    last, largest day).

    Columns: first_day, last_day, months and :data:`COST_KEYS` (cost_reserved: the next phase's
    placeholder pods, held through this phase at ``prices.pod_month``).
    """
    plan = timeline.plan
    first, last = timeline.window(phase_index)
    years = np.ceil(np.arange(1, last / DAYS_PER_YEAR + 1) * DAYS_PER_YEAR).astype(int)
    starts = np.unique(np.concatenate([np.arange(first, last + 1, step_days), years[years > first]]))
    starts = starts[starts <= last]  # slots never straddle a year boundary (cash flow per year)
    ends = np.append(starts[1:] - 1, last)
    months = (ends - starts + 1) / DAYS_PER_MONTH
    users, loads = site_loads_over(timeline, phase_index, ends)
    z = _size(plan, users, loads)
    fixed = sum(plan.site(s).fixed_cost_per_month for s in plan.live_sites(phase_index))
    held = sum(r.pods for r in _reservations_of(timeline, phase_index))
    return pd.DataFrame(
        {
            "first_day": starts,
            "last_day": ends,
            "months": months,
            "cost_pods": z["cost_pods"].sum(axis=1) * months,
            "cost_turn": z["cost_turn"].sum(axis=1) * months,
            "cost_storage": z["cost_storage"].sum(axis=1) * months,
            "cost_fixed": fixed * months,
            "cost_reserved": held * plan.prices.pod_month * months,
        }
    )


def recovery_window(timeline: Timeline, phase_index: int, step_days: int = 30) -> tuple[int, int]:
    """Days [first, last] whose cost the tariffs of ``phase_index`` recover: the phase's days up
    to the end of year ``economics.recovery_years`` from launch, or, for a phase opening after
    that, its own first ``recovery_years``; extended to the end of the slot that day falls in."""
    first, last = timeline.window(phase_index)
    span = int(np.ceil(timeline.plan.economics.recovery_years * DAYS_PER_YEAR))
    end = span - 1 if first < span else first + span - 1
    slots = phase_slots(timeline, phase_index, step_days)
    return first, int(slots.last_day[slots.first_day <= end].iloc[-1]) if end < last else last


def phase_costs(
    timeline: Timeline, phase_index: int, step_days: int = 30, last_day: int | None = None
) -> dict[str, float]:
    """Cost of ``phase_index`` over its days (the sums of :func:`phase_slots`), by :data:`COST_KEYS`;
    with ``last_day``, over the slots that end by then."""
    slots = phase_slots(timeline, phase_index, step_days)
    if last_day is not None:
        slots = slots[slots.last_day <= last_day]
    return {key: float(slots[key].sum()) for key in COST_KEYS}


def _loads(
    timeline: Timeline, phase_index: int, states: list[str], day: int | None = None
) -> dict[str, tuple[float, SiteLoad]]:
    """Users and busy-hour load of ``states`` (live in ``phase_index``) on ``day`` (default: the
    phase's last day)."""
    plan = timeline.plan
    _, last = timeline.window(phase_index)
    users, loads = site_loads_over(timeline, phase_index, np.array([last if day is None else day]))
    erlangs = call_erlangs(plan.demand, users)
    order = plan.live_sites(phase_index)
    return {
        s: (float(users[0, j]), SiteLoad(messages_per_s=float(loads[0, j]), erlangs=float(erlangs[0, j])))
        for s, j in ((s, order.index(s)) for s in states)
    }


def reservation_day(timeline: Timeline, phase_index: int) -> int:
    """The day the next phase's sites are reserved for: one year after that phase opens (its
    first-year load; from then on the sites scale with their own pods), or the run's last day."""
    opens = timeline.phases[phase_index].start_day
    return int(min(opens + RESERVATION_YEARS * DAYS_PER_YEAR, timeline.days[-1]))


def _next_phase_loads(timeline: Timeline, phase_index: int) -> dict[str, tuple[float, SiteLoad]]:
    sites = timeline.phases[phase_index].sites
    return _loads(timeline, phase_index + 1, sites, reservation_day(timeline, phase_index))


def _design(timeline: Timeline, phase_index: int) -> dict[str, tuple[float, SiteLoad]]:
    """Users and load to size each site for in ``phase_index``: live sites at the phase's last day,
    and the next phase's sites at their first-year load (their reservation)."""
    design = _loads(timeline, phase_index, timeline.plan.live_sites(phase_index))
    if phase_index < len(timeline.phases):
        design |= _next_phase_loads(timeline, phase_index)
    return design


def _reservations_of(timeline: Timeline, phase_index: int) -> list[Reservation]:
    if phase_index >= len(timeline.phases):
        return []
    plan, following = timeline.plan, phase_index + 1
    loads = _next_phase_loads(timeline, phase_index)
    return [reservation(plan, following, size_for_load(plan, s, load)) for s, (_, load) in loads.items()]


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

    Each is sized (with headroom) for its load one year after that next phase opens (or at the end
    of the run), node pods and TURN relays separately, by the shared rule
    (``msgfleet.sizing.reservation``); empty during the last phase.
    """
    return _reservations_of(_timeline(plan, phase_index), phase_index)


def design_users(plan: Plan, phase_index: int) -> dict[str, int]:
    """Users to size each site for in ``phase_index`` (``infra.design_users``): live sites at the
    phase's last day, and the next phase's sites at the end of that phase (their reservation)."""
    return {s: round(users) for s, (users, _) in _design(_timeline(plan, phase_index), phase_index).items()}


def design_load(plan: Plan, phase_index: int) -> dict[str, SiteLoad]:
    """Busy-hour load to size each site for in ``phase_index`` (``infra.design_load``), for the
    same sites and days as :func:`design_users`."""
    return {s: load for s, (_, load) in _design(_timeline(plan, phase_index), phase_index).items()}


def sized_plan(plan: Plan, phase_index: int) -> Plan:
    """A copy of ``plan`` with ``infra.design_users`` and ``infra.design_load`` for ``phase_index``:
    what infra/ provisions that phase (and reserves for the next) from."""
    design = _design(_timeline(plan, phase_index), phase_index)
    infra = plan.infra.model_copy(
        update={
            "design_users": {s: round(users) for s, (users, _) in design.items()},
            "design_load": {s: load for s, (_, load) in design.items()},
        }
    )
    return Plan.model_validate(plan.model_copy(update={"infra": infra}).model_dump())
