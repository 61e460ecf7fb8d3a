"""Traffic: the gravity model and each site's busy-hour load, checked against the SimPy model."""

from pathlib import Path

import numpy as np
import pytest

from msgfleet.schema import load_plan
from sim.capacity import sizings_of
from sim.latency import run_latency
from sim.timeline import build_timeline
from sim.traffic import busy_hour_rate, gravity, site_loads

DEV = Path(__file__).resolve().parents[2] / "rollout_plans" / "dev-3-states.yaml"


def test_gravity_keeps_the_own_state_share_and_prefers_near_big_states() -> None:
    pop = np.array([10.0, 5.0, 5.0])
    dist = np.array([[0, 100, 1000], [100, 0, 1000], [1000, 1000, 0]], dtype=float)
    g = gravity(pop, dist, 0.2)
    assert np.allclose(g.sum(axis=1), 1) and np.allclose(np.diag(g), 0.8)
    assert g[0, 1] > g[0, 2]  # same population, ten times nearer


def test_site_loads_are_own_messages_plus_federated_copies() -> None:
    timeline = build_timeline(load_plan(DEV))
    _, last = timeline.window(2)
    loads = site_loads(timeline, 2, last)
    users = timeline.site_users(2, last)
    own = {s: float(busy_hour_rate(timeline.plan, u)) for s, u in users.items()}
    share = timeline.plan.demand.cross_state_share
    # Home-state residency: every cross-state message is a federated copy somewhere.
    assert sum(loads.values()) == pytest.approx(sum(own.values()) * (1 + share))
    for site in loads:
        assert loads[site] > own[site]


def test_simulated_utilisation_matches_the_sized_load() -> None:
    plan = load_plan(DEV)
    short = plan.latency.model_copy(update={"duration_s": 20.0, "warmup_s": 2.0, "replications": 2})
    plan = plan.model_copy(update={"latency": short})
    timeline = build_timeline(plan)
    sized = {z.state: z for z in sizings_of(timeline, 2)}
    mu = 1000 / plan.capacity.service_time_ms_mean
    util = run_latency(plan, [2], workers=1).utilisation.groupby("site")["utilisation"].mean()
    for site, z in sized.items():
        expected = z.busy_hour_msgs_per_s / (z.pods * mu)
        # Call set-ups add ~1% on top of messages.
        assert util[site] == pytest.approx(expected, rel=0.05), site
