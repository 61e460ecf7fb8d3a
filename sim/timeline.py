"""Who is covered when, and how many users each state has each day (vectorised over days × states).

A state is covered ("live") from the first phase in which it has a home site: under
``residency: home_state`` only its own site can home it; under ``national`` the live site with
the smallest round trip does, if that round trip is within ``slo.max_rtt_ms``. Adoption in a
live state follows Bass diffusion from the day it went live (sim.adoption).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from msgfleet.schema import Phase, Plan
from sim.adoption import bass_cumulative
from sim.errors import SimError
from sim.geography import StateTable, states_of
from sim.topology import Partition, backbone, rtt_matrix_ms, without_links

__all__ = ["DAYS_PER_YEAR", "Timeline", "build_timeline", "homes_for"]

DAYS_PER_YEAR = 365.25
DAYS_PER_MONTH = DAYS_PER_YEAR / 12


def homes_for(plan: Plan, states: StateTable, rtt: np.ndarray, live_sites: list[str]) -> dict[str, str]:
    """Home site of every state covered by ``live_sites`` (state id -> site state id)."""
    if not live_sites:
        return {}
    site_idx = np.array([states.index(s) for s in live_sites])
    slo = plan.slo.max_rtt_ms
    if plan.residency == "home_state":
        return {s: s for s, i in zip(live_sites, site_idx, strict=True) if rtt[i, i] <= slo}
    to_sites = rtt[site_idx, :]  # sites × states
    best = np.argmin(to_sites, axis=0)
    best_rtt = to_sites[best, np.arange(len(states))]
    return {states.ids[j]: live_sites[best[j]] for j in range(len(states)) if best_rtt[j] <= slo}


@dataclass(frozen=True, eq=False)
class Timeline:
    """Daily state of a rollout; arrays are indexed [day] or [day, state]."""

    plan: Plan
    states: StateTable
    rtt_ms: np.ndarray = field(repr=False)
    phases: tuple[Phase, ...]
    homes: tuple[dict[str, str], ...]  # per phase (0-based): state -> home site
    days: np.ndarray = field(repr=False)
    phase_of_day: np.ndarray = field(repr=False)  # 1-based phase index, 0 before the first phase
    live_day: np.ndarray = field(repr=False)  # per state: day it went live, inf if never
    users: np.ndarray = field(repr=False)  # active users [day, state]
    partition: Partition | None = None  # islands left by failed backbone links

    def window(self, phase_index: int) -> tuple[int, int]:
        """Days [first, last] of phase ``phase_index`` (1-based) within the run."""
        if not 1 <= phase_index <= len(self.phases):
            raise SimError(f"plan {self.plan.name!r} has phases 1..{len(self.phases)}, not {phase_index}")
        first = self.phases[phase_index - 1].start_day
        last = (
            self.phases[phase_index].start_day - 1 if phase_index < len(self.phases) else int(self.days[-1])
        )
        return first, min(last, int(self.days[-1]))

    def site_users(self, phase_index: int, day: int) -> dict[str, float]:
        """Active users homed at each live site of ``phase_index`` on ``day``."""
        homes = self.homes[phase_index - 1]
        totals = {site: 0.0 for site in self.plan.live_sites(phase_index)}
        row = self.users[min(max(day, 0), len(self.days) - 1)]
        for state, site in homes.items():
            totals[site] += float(row[self.states.index(state)])
        return totals


def build_timeline(
    plan: Plan, phases: list[Phase] | None = None, failed_links: tuple[tuple[str, str], ...] = ()
) -> Timeline:
    """Daily coverage and active users of ``plan`` over its horizon (``phases`` override the plan's).

    ``failed_links`` are removed from the backbone first: routes detour, and states cut off from
    every live site within the SLO are not covered (the partition is kept on the timeline).
    """
    phases = list(plan.phases if phases is None else phases)
    if not phases:
        raise SimError(f"plan {plan.name!r} has no phases (propose some with `msgfleet sim plan`)")
    if phases != list(plan.phases):
        plan = plan.model_copy(update={"phases": phases})
    states = states_of(plan)
    for site in plan.sites:
        states.index(site.state)
    graph, partition = without_links(backbone(plan, states), list(failed_links))
    rtt = rtt_matrix_ms(graph, states.ids, plan.network.access_rtt_ms)
    homes = tuple(homes_for(plan, states, rtt, plan.live_sites(k)) for k in range(1, len(phases) + 1))
    live_day = np.full(len(states), np.inf)
    for phase, home in zip(phases, homes, strict=True):
        for state in home:
            j = states.index(state)
            live_day[j] = min(live_day[j], phase.start_day)
    days = np.arange(plan.horizon_days + 1)
    starts = np.array([p.start_day for p in phases])
    phase_of_day = np.searchsorted(starts, days, side="right")
    t_years = (days[:, None] - live_day[None, :]) / DAYS_PER_YEAR
    share = np.where(
        t_years >= 0,
        bass_cumulative(np.where(t_years >= 0, t_years, 0), plan.adoption.p, plan.adoption.q),
        0.0,
    )
    users = share * (plan.adoption.market_share * states.population)[None, :]
    return Timeline(plan, states, rtt, tuple(phases), homes, days, phase_of_day, live_day, users, partition)
