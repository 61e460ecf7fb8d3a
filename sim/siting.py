"""Choose sites and a phase order that reach a coverage target with the fewest / cheapest sites.

Greedy maximum coverage: repeatedly open the candidate that covers the most not-yet-covered
population per unit of cost, until the target share is covered. Greedy is optimal when the
candidates' coverage sets are disjoint (``residency: home_state``: each site covers only its own
state), since then taking the largest first minimises the count; in general it reaches at least
1 - 1/e of the best k-site coverage (Nemhauser, Wolsey & Fisher 1978). When there are few
candidates (:data:`EXACT_LIMIT`) an exhaustive search by increasing site count finds the true
minimum, cheapest among equals.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from msgfleet.schema import Phase, Plan
from sim.errors import SimError
from sim.geography import StateTable, states_of
from sim.timeline import homes_for
from sim.topology import backbone, rtt_matrix_ms

__all__ = ["EXACT_LIMIT", "Selection", "coverage_sets", "exact_cover", "greedy_cover", "propose_phases"]

EXACT_LIMIT = 18


@dataclass(frozen=True)
class Selection:
    sites: list[str]  # in opening order
    covered: float  # share of the national population
    method: str  # "greedy" | "exact"
    optimal: bool | None  # True when proven optimal, None when unknown
    reason: str


def coverage_sets(
    plan: Plan, states: StateTable, rtt: np.ndarray, candidates: list[str]
) -> dict[str, frozenset]:
    """States each candidate site would cover on its own (within SLO, under the residency rule)."""
    return {c: frozenset(homes_for(plan, states, rtt, [c])) for c in candidates}


def _weight(states: StateTable, covered: frozenset | set) -> float:
    return float(sum(states.population[states.index(s)] for s in covered))


def greedy_cover(
    sets: dict[str, frozenset], states: StateTable, target: float, costs: dict[str, float] | None = None
) -> Selection:
    """Greedy by newly covered population per cost until ``target`` (share of national) is met."""
    need = target * states.national_population
    costs = costs or {}
    chosen: list[str] = []
    covered: set[str] = set()
    remaining = dict(sets)
    while _weight(states, covered) < need and remaining:
        gains = {c: _weight(states, remaining[c] - covered) / max(costs.get(c, 1.0), 1e-9) for c in remaining}
        best = max(sorted(gains), key=gains.__getitem__)
        if gains[best] <= 0:
            break
        chosen.append(best)
        covered |= remaining.pop(best)
    disjoint = all(a.isdisjoint(b) for a, b in itertools.combinations(sets.values(), 2))
    uniform = len(set(costs.get(c, 1.0) for c in sets)) <= 1
    proven = disjoint and uniform
    return Selection(
        chosen,
        _weight(states, covered) / states.national_population,
        "greedy",
        True if proven else None,
        "disjoint coverage sets, equal costs: largest-first is optimal" if proven else "greedy (1-1/e bound)",
    )


def exact_cover(
    sets: dict[str, frozenset], states: StateTable, target: float, costs: dict[str, float] | None = None
) -> Selection:
    """Fewest sites reaching ``target`` (cheapest among equals), by exhaustive search."""
    if len(sets) > EXACT_LIMIT:
        raise SimError(f"exact search is limited to {EXACT_LIMIT} candidates, got {len(sets)}")
    need = target * states.national_population
    costs = costs or {}
    names = sorted(sets)
    for k in range(1, len(names) + 1):
        feasible = [
            combo
            for combo in itertools.combinations(names, k)
            if _weight(states, frozenset().union(*(sets[c] for c in combo))) >= need
        ]
        if feasible:
            best = min(feasible, key=lambda combo: (sum(costs.get(c, 1.0) for c in combo), combo))
            order = greedy_cover({c: sets[c] for c in best}, states, 1.0, costs).sites
            covered = frozenset().union(*(sets[c] for c in best))
            return Selection(
                order,
                _weight(states, covered) / states.national_population,
                "exact",
                True,
                "exhaustive search",
            )
    raise SimError(f"no set of candidate sites covers {target:.0%} of the population within the SLO")


def propose_phases(
    plan: Plan, n_phases: int = 3, phase_days: int = 180, candidates: list[str] | None = None
) -> tuple[Plan, Selection]:
    """A copy of ``plan`` whose sites and phases reach ``plan.target_coverage`` (reach).

    ``candidates`` default to the plan's sites; the chosen sites open in greedy order, split into
    up to ``n_phases`` phases ``phase_days`` apart.
    """
    states = states_of(plan)
    candidates = candidates or [s.state for s in plan.sites]
    rtt = rtt_matrix_ms(backbone(plan, states), states.ids, plan.network.access_rtt_ms)
    sets = coverage_sets(plan, states, rtt, candidates)
    costs = {s.state: s.fixed_cost_per_month for s in plan.sites if s.fixed_cost_per_month > 0}
    if len(candidates) <= EXACT_LIMIT:
        selection = exact_cover(sets, states, plan.target_coverage, costs)
    else:
        selection = greedy_cover(sets, states, plan.target_coverage, costs)
    if selection.covered < plan.target_coverage:
        raise SimError(
            f"the candidates cover only {selection.covered:.1%} of {plan.country} within "
            f"{plan.slo.max_rtt_ms:g} ms RTT, short of the {plan.target_coverage:.0%} target"
        )
    groups = [list(g) for g in np.array_split(np.array(selection.sites), min(n_phases, len(selection.sites)))]
    phases = [Phase(name=f"phase-{i + 1}", start_day=i * phase_days, sites=g) for i, g in enumerate(groups)]
    by_state = {s.state: s for s in plan.sites}
    sites = [by_state[s] for s in selection.sites]
    data = plan.model_dump(exclude={"sites", "phases"})
    proposed = Plan.model_validate(
        {**data, "sites": [s.model_dump() for s in sites], "phases": [p.model_dump() for p in phases]}
    )
    return proposed, selection
