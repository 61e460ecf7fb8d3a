"""Site selection: greedy is optimal where theory says, never better than exact, within 1-1/e."""

import itertools

import numpy as np
import pytest

from msgfleet.schema import Plan, Site
from sim.geography import load_states
from sim.siting import exact_cover, greedy_cover, propose_phases

STATES = load_states("DE")


def _weight(sets: dict, chosen: list[str]) -> float:
    covered = frozenset().union(*(sets[c] for c in chosen)) if chosen else frozenset()
    return float(sum(STATES.population[STATES.index(s)] for s in covered))


def test_greedy_equals_exact_for_disjoint_sets() -> None:
    sets = {s: frozenset({s}) for s in STATES.ids}  # home_state residency: each site covers itself
    for target in (0.3, 0.6, 0.9):
        greedy = greedy_cover(sets, STATES, target)
        exact = exact_cover(sets, STATES, target)
        assert greedy.optimal is True
        assert len(greedy.sites) == len(exact.sites)
        assert greedy.covered >= target


@pytest.mark.parametrize("seed", range(5))
def test_greedy_never_beats_exact_and_keeps_the_1_minus_1_over_e_bound(seed: int) -> None:
    rng = np.random.default_rng(seed)
    ids = list(STATES.ids)
    sets = {c: frozenset(rng.choice(ids, size=rng.integers(1, 6), replace=False).tolist()) for c in ids[:10]}
    exact = (
        exact_cover(sets, STATES, 0.5)
        if _weight(sets, list(sets)) >= 0.5 * STATES.national_population
        else None
    )
    greedy = greedy_cover(sets, STATES, 0.5)
    if exact is not None:
        assert len(exact.sites) <= len(greedy.sites)
    # Nemhauser-Wolsey-Fisher: greedy's first k picks cover >= (1 - 1/e) of the best k-set cover.
    order = greedy_cover(sets, STATES, 1.0).sites
    for k in (1, 2, 3):
        best = max(_weight(sets, list(c)) for c in itertools.combinations(sets, k))
        assert _weight(sets, order[:k]) >= (1 - 1 / np.e) * best - 1e-6


def test_proposal_reaches_the_target_in_phases() -> None:
    plan = Plan(name="p", country="DE", sites=[Site(state=s) for s in STATES.ids], target_coverage=0.6)
    proposed, selection = propose_phases(plan, n_phases=2, phase_days=90)
    assert selection.covered >= 0.6 and selection.method == "exact"
    assert [p.start_day for p in proposed.phases] == [0, 90]
    opened = [s for p in proposed.phases for s in p.sites]
    assert sorted(opened) == sorted(selection.sites) == sorted(s.state for s in proposed.sites)


def test_cheaper_sites_win_when_costs_differ() -> None:
    sets = {s: frozenset({s}) for s in STATES.ids}
    costs = {s: 1.0 for s in STATES.ids} | {"DE-NW": 1000.0}
    chosen = greedy_cover(sets, STATES, 0.3, costs).sites
    assert "DE-NW" not in chosen
