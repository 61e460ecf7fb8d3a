"""The SimPy latency model against M/M/1 and M/M/c theory.

Replications are independent seeded runs; the test first checks that they resolve the mean wait
to within 2% (95% t-interval half-width), so a short lucky run cannot pass, then that the mean
lies within 2% of the formula, computed here from Kleinrock's M/M/c results.
"""

import numpy as np
import pytest
from scipy import stats

from sim.latency import Scenario, replicate, simulate_mmc
from sim.queueing import erlang_c

REPLICATIONS = 10


def _interval(values: np.ndarray) -> tuple[float, float]:
    half = stats.t.ppf(0.975, values.size - 1) * values.std(ddof=1) / np.sqrt(values.size)
    return float(values.mean()), float(half)


def _mmc_wait(lam: float, mu: float, c: int) -> float:
    return erlang_c(lam / mu, c) / (c * mu - lam)


@pytest.mark.parametrize(
    ("lam", "mu", "servers", "customers"),
    [(0.5, 1.0, 1, 100_000), (2.0, 1.0, 4, 250_000)],
    ids=["M/M/1", "M/M/4"],
)
def test_pool_mean_wait_matches_theory(lam: float, mu: float, servers: int, customers: int) -> None:
    waits = np.array(
        [simulate_mmc(lam, mu, servers, customers, seed, warmup=2_000) for seed in range(REPLICATIONS)]
    )
    mean, half = _interval(waits)
    theory = _mmc_wait(lam, mu, servers)
    assert half < 0.02 * theory, f"run too short to resolve 2%: ±{half / theory:.1%}"
    assert mean == pytest.approx(theory, rel=0.02)


def _one_site(pods: int, rate: float, service_ms: float, requests_per_message: float = 0.0) -> Scenario:
    return Scenario(
        phase=1,
        phase_name="t",
        sites=("RU-MOW",),
        pods=np.array([float(pods)]),
        servers=np.array([float(pods)]),
        states=("RU-MOW",),
        home=np.array([0]),
        msg_rate=np.array([rate]),
        call_rate=np.array([0.0]),
        dest_prob=np.ones((1, 1)),
        one_way_ms=np.zeros((1, 1)),
        access_one_way_ms=0.0,
        service_mean_s=service_ms / 1000,
        service_cv=1.0,
        duration_s=100.0,
        warmup_s=5.0,
        slo_ms=300.0,
        requests_per_message=requests_per_message,
    )


def test_latency_model_sojourn_matches_mm1_per_pod() -> None:
    """A site of c pods behind a random load balancer: the random split of a Poisson stream is c
    Poisson streams of λ/c, so each pod is an M/M/1 queue (not one shared M/M/c queue)."""
    mu, servers = 500.0, 3
    lam = 0.5 * servers * mu
    sc = _one_site(servers, lam, 1000 / mu)
    means = np.array([replicate(sc, seed).latency_ms.mean() / 1000 for seed in range(REPLICATIONS)])
    mean, half = _interval(means)
    theory = _mmc_wait(lam / servers, mu, 1) + 1 / mu
    assert half < 0.02 * theory
    assert mean == pytest.approx(theory, rel=0.02)


def test_other_requests_share_the_queue_with_messages() -> None:
    """Messages at rate λ with r other requests each: one FCFS server sees M/M/1 at λ(1 + r), and a
    message's sojourn is that queue's (PASTA), so it waits as if the other requests were messages."""
    mu, lam, others = 500.0, 100.0, 2.0
    sc = _one_site(1, lam, 1000 / mu, requests_per_message=others)
    runs = [replicate(sc, seed) for seed in range(REPLICATIONS)]
    means = np.array([r.latency_ms.mean() / 1000 for r in runs])
    mean, half = _interval(means)
    theory = _mmc_wait(lam * (1 + others), mu, 1) + 1 / mu
    assert half < 0.02 * theory
    assert mean == pytest.approx(theory, rel=0.02)
    assert np.mean([r.utilisation[0] for r in runs]) == pytest.approx(lam * (1 + others) / mu, rel=0.02)
    assert runs[0].latency_ms.size == pytest.approx(lam * sc.duration_s, rel=0.05)  # only messages recorded


def test_sampled_sites_keep_each_pods_utilisation() -> None:
    """Two sites sampling different shares of their pods: every simulated pod still runs at the
    full-scale per-pod load (thinning and background arrivals balance the federated flows)."""
    mu = 500.0
    sc = Scenario(
        phase=1,
        phase_name="t",
        sites=("RU-MOW", "RU-SPE"),
        pods=np.array([4.0, 10.0]),
        servers=np.array([1.0, 5.0]),
        states=("RU-MOW", "RU-SPE"),
        home=np.array([0, 1]),
        msg_rate=np.array([600.0, 2000.0]),
        call_rate=np.array([0.0, 0.0]),
        dest_prob=np.array([[0.6, 0.4], [0.3, 0.7]]),
        one_way_ms=np.array([[0.0, 5.0], [5.0, 0.0]]),
        access_one_way_ms=5.0,
        service_mean_s=1 / mu,
        service_cv=1.0,
        duration_s=60.0,
        warmup_s=2.0,
        slo_ms=300.0,
    )
    inbound = np.array([2000.0 * 0.3, 600.0 * 0.4])
    per_pod = (sc.msg_rate + inbound) / sc.pods / mu
    util = np.mean([replicate(sc, seed).utilisation for seed in range(4)], axis=0)
    assert util == pytest.approx(per_pod, rel=0.03)


def _p95s(sc: Scenario, seeds: range) -> np.ndarray:
    from sim.latency import weighted_quantile

    return np.array(
        [float(weighted_quantile(r.latency_ms, r.weight, 0.95)) for r in (replicate(sc, s) for s in seeds)]
    )


def test_p95_does_not_move_with_sample_fraction() -> None:
    """40 pods at utilisation 0.7, simulated as 1, 10 or all 40 of them: each simulated pod is an
    M/M/1 queue at the full-scale per-pod rate, so the p95 stays within its interval and on the
    M/M/1 sojourn quantile ln(20)/(μ - λ) (a merged 40-server queue would give about a third)."""
    mu, pods, rho = 500.0, 40, 0.7
    lam = rho * mu
    theory_ms = np.log(20) / (mu - lam) * 1000
    estimates = {}
    for simulated in (1, 10, 40):
        sc = _one_site(pods, lam * pods, 1000 / mu)
        sc = Scenario(
            **{**sc.__dict__, "servers": np.array([float(simulated)]), "duration_s": 250 / simulated}
        )
        estimates[simulated] = _interval(_p95s(sc, range(REPLICATIONS)))
    full, full_half = estimates[40]
    for simulated, (p95, half) in estimates.items():
        assert abs(p95 - full) <= half + full_half, f"{simulated} of {pods} pods: {p95:.2f} vs {full:.2f} ms"
        assert p95 == pytest.approx(theory_ms, rel=0.05), simulated
