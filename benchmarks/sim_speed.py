"""Speed of the simulator (figures, not tests): run ``python benchmarks/sim_speed.py``.

1. Simulated messages per second of the SimPy latency model on one core (the ru-national plan's
   last phase: 22 sites, federation, sampling), against SimPy's own M/M/1 with a ``Resource``
   on the same machine. Bar: >= 150,000 messages/s.
2. Wall time of a national rollout run: RU, all 83 states as sites in four phases, 10 years,
   daily, including sizing, tariffs and reservations. Bar: < 1 s (warm: GeoNames data loaded;
   the one-off cold load is reported too).

Medians of several repetitions; everything runs in this process (one core).
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import simpy

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from msgfleet.schema import Phase, Plan, Site, load_plan  # noqa: E402
from sim.geography import load_states  # noqa: E402
from sim.latency import replicate, scenario  # noqa: E402
from sim.rollout import run_rollout  # noqa: E402

REPEATS = 5


def simpy_mm1_customers_per_s(customers: int = 100_000) -> float:
    """SimPy's textbook M/M/1: a process per customer requesting a Resource."""
    rng = np.random.default_rng(1)
    gaps = rng.exponential(1 / 0.8, customers).tolist()
    services = rng.exponential(1.0, customers).tolist()
    env = simpy.Environment()
    server = simpy.Resource(env, capacity=1)

    def customer(service: float):  # type: ignore[no-untyped-def]
        with server.request() as req:
            yield req
            yield env.timeout(service)

    def source():  # type: ignore[no-untyped-def]
        for gap, service in zip(gaps, services, strict=True):
            yield env.timeout(gap)
            env.process(customer(service))

    env.process(source())
    start = time.perf_counter()
    env.run()
    return customers / (time.perf_counter() - start)


def latency_model_messages_per_s() -> tuple[float, float, int]:
    """Median simulated messages per wall second and per CPU second (robust to a busy machine)."""
    plan = load_plan(ROOT / "rollout_plans" / "ru-national.yaml")
    sc = scenario(plan)  # last phase, busy hour at the end of the horizon
    wall, cpu = [], []
    for seed in range(REPEATS):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = replicate(sc, seed)
        wall.append(result.messages / (time.perf_counter() - start))
        cpu.append(result.messages / (time.process_time() - start_cpu))
    return statistics.median(wall), statistics.median(cpu), result.messages


def national_plan() -> Plan:
    states = load_states("RU")
    order = [states.ids[i] for i in np.argsort(-states.population)]
    groups = np.array_split(np.array(order), 4)
    return Plan(
        name="ru-all-states",
        country="RU",
        horizon_days=3650,
        sites=[Site(state=s) for s in order],
        phases=[Phase(name=f"p{i + 1}", start_day=i * 180, sites=list(g)) for i, g in enumerate(groups)],
    )


def rollout_wall_s() -> tuple[float, float]:
    start = time.perf_counter()
    plan = national_plan()  # loads GeoNames (cold)
    run_rollout(plan)
    cold = time.perf_counter() - start
    warm = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        run_rollout(plan)
        warm.append(time.perf_counter() - start)
    return cold, statistics.median(warm)


def main() -> None:
    cold, warm = rollout_wall_s()  # first: its cold figure includes loading GeoNames
    baseline = statistics.median(simpy_mm1_customers_per_s() for _ in range(3))
    rate, cpu_rate, per_run = latency_model_messages_per_s()
    print(f"load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"SimPy M/M/1 with Resource (reference): {baseline:,.0f} customers/s")
    verdict = "OK" if cpu_rate >= 150_000 else "BELOW BAR"
    print(
        f"latency model, ru-national last phase: {rate:,.0f} simulated messages/s wall, "
        f"{cpu_rate:,.0f} per CPU second ({per_run:,} per replication, median of {REPEATS}; "
        f"bar >= 150,000) {verdict}"
    )
    print(
        f"national rollout RU, 83 states, 10 years daily: {warm:.3f} s warm (median of {REPEATS}), "
        f"{cold:.3f} s cold incl. GeoNames load; bar < 1 s {'OK' if warm < 1 else 'ABOVE BAR'}"
    )


if __name__ == "__main__":
    main()
