"""Locust load shapes over the planners in knee.py / schedule.py (imports Locust: Locust process only).

Use with plain Locust: ``locust -f loadtests/locustfile.py,loadtests/shapes.py --headless`` runs the
knee search of the plan in MSGFLEET_LOADTEST_CONFIG (or the schema's defaults).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from locust import LoadTestShape

from loadtests.config import CONFIG_ENV, RunConfig
from loadtests.knee import KneeFinder
from loadtests.nodecpu import cpu_seconds, runqueue_wait_seconds
from loadtests.schedule import LevelSchedule
from loadtests.stats import Entry, Snapshot
from msgfleet.schema import SLO, KneeSearch, load_plan


def snapshot(runner: Any, run_time: float, node_pids: Sequence[int] = ()) -> Snapshot:
    """Copy the runner's cumulative statistics (per request type and name), the nodes' CPU time and
    run-queue wait, and the load generator's CPU time (this process and its local workers)."""
    entries = {
        (str(e.method), str(e.name)): Entry(e.num_requests, e.num_failures, dict(e.response_times))
        for e in runner.stats.entries.values()
    }
    cpu = sum(cpu_seconds(pid) for pid in node_pids) if node_pids else None
    wait = sum(runqueue_wait_seconds(pid) for pid in node_pids) if node_pids else None
    return Snapshot(run_time, int(runner.user_count), entries, cpu, cpu_seconds(os.getpid()), wait)


class PlannedShape(LoadTestShape):
    """Asks its planner for users and spawn rate every second."""

    planner: KneeFinder | LevelSchedule | None = None
    node_pids: Sequence[int] = ()

    def __init__(
        self, planner: KneeFinder | LevelSchedule | None = None, node_pids: Sequence[int] = ()
    ) -> None:
        super().__init__()
        if planner is not None:
            self.planner = planner
        self.node_pids = list(node_pids)

    def tick(self) -> tuple[int, float] | None:
        if self.planner is None:
            self.planner = _default_knee()
        run_time = self.get_run_time()
        return self.planner.tick(run_time, lambda: snapshot(self.runner, run_time, self.node_pids))


def _default_knee() -> KneeFinder:
    path = os.environ.get(CONFIG_ENV)
    config = RunConfig.read(path) if path else None
    if config is None or config.plan is None:
        return KneeFinder(KneeSearch(), SLO())
    plan = load_plan(config.plan)
    return KneeFinder(plan.loadtest.knee, plan.slo)
