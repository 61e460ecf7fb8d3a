"""Who messages whom: the gravity model, and the busy-hour load each site handles.

Recipients of a state's messages: ``1 - cross_state_share`` in the same state, the rest spread
over the other live states in proportion to population product over distance (the gravity model
of spatial interaction; e.g. Krings et al., "Urban gravity: a model for inter-city telecommunication
flows", J. Stat. Mech. 2009, L07003, fit it to mobile-phone call volumes).
"""

from __future__ import annotations

import numpy as np

from msgfleet.schema import Plan
from msgfleet.sizing import messages_sent_per_s
from sim.geography import great_circle_km
from sim.timeline import Timeline

__all__ = ["busy_hour_rate", "gravity", "site_loads", "site_loads_over"]


def gravity(pop: np.ndarray, dist_km: np.ndarray, cross_share: float) -> np.ndarray:
    """Row-stochastic recipient matrix [origin, destination] over the given states."""
    n = len(pop)
    if n == 1:
        return np.ones((1, 1))
    attraction = pop[None, :] * pop[:, None] / np.maximum(dist_km, 1.0)
    np.fill_diagonal(attraction, 0.0)
    cross = attraction / attraction.sum(axis=1, keepdims=True) * cross_share
    return cross + np.eye(n) * (1 - cross_share)


def busy_hour_rate(plan: Plan, users: np.ndarray | float) -> np.ndarray:
    """Busy-hour messages/s sent by ``users`` (first messages and replies; ``msgfleet.sizing``)."""
    return messages_sent_per_s(plan.demand, np.asarray(users, dtype=float))


def site_loads_over(timeline: Timeline, phase_index: int, days: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Users and busy-hour messages/s of each live site of ``phase_index`` on each of ``days``.

    Returns ``(users, loads)``, both [day, site] in ``plan.live_sites(phase_index)`` order. A
    site's load is what its users send plus the federated copies it receives for its users.
    """
    plan, st = timeline.plan, timeline.states
    homes = timeline.homes[phase_index - 1]
    sites = plan.live_sites(phase_index)
    days = np.clip(np.asarray(days), 0, len(timeline.days) - 1)
    if not homes:
        zeros = np.zeros((days.size, len(sites)))
        return zeros, zeros.copy()
    live = sorted(homes)
    idx = np.array([st.index(s) for s in live])
    users = timeline.users[np.ix_(days, idx)]  # [day, live state]
    rate = busy_hour_rate(plan, users)
    dist = great_circle_km(st.lat[idx, None], st.lon[idx, None], st.lat[None, idx], st.lon[None, idx])
    home = np.array([sites.index(homes[s]) for s in live])
    to_site = np.eye(len(sites))[home]  # [live state, site] one-hot
    federated = gravity(st.population[idx], dist, plan.demand.cross_state_share) * (
        home[:, None] != home[None, :]
    )
    loads = rate @ to_site + (rate @ federated) @ to_site
    return users @ to_site, loads


def site_loads(timeline: Timeline, phase_index: int, day: int) -> dict[str, float]:
    """Busy-hour messages/s each live site of ``phase_index`` handles on ``day``."""
    _, loads = site_loads_over(timeline, phase_index, np.array([day]))
    return {site: float(loads[0, j]) for j, site in enumerate(timeline.plan.live_sites(phase_index))}
