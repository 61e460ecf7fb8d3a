"""Knee finding: the largest user count whose step keeps delivery p95 and error rate within the SLO.

In the spirit of mattermost-load-test-ng's coordinator: step users up while each step passes;
after a breach, bisect between the best passing and the lowest failing level until they are
``resolution_users`` apart. Each step runs ``warmup_s`` (not measured: users spawn; twice as long
after a breach, so that the overloaded step's queues drain) and then ``measure_s`` (measured).
A verdict needs enough samples (:func:`verdict`): a step with too few deliveries is measured up to
``EXTENSIONS`` more times ``measure_s`` and then marked insufficient, never passed.
:meth:`KneeFinder.tick` depends only on the run time and the statistics it reads, so it is
tested without Locust.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from loadtests.stats import DELIVERY, Snapshot, Window, quantile_interval
from msgfleet.schema import SLO, KneeSearch

# The fewest deliveries a p95 verdict rests on without an interval that settles it: with 30 the p95
# is the 29th of 30 ordered values, not the maximum of a handful.
MIN_DELIVERIES = 30
EXTENSIONS = 2  # a step short of samples is measured up to this many more times measure_s
PASS, FAIL, INSUFFICIENT = "pass", "fail", "insufficient"


def time_bound_s(search: KneeSearch) -> float:
    """The longest a knee search can take: every step with a doubled warm-up and all extensions."""
    return search.max_steps * (2 * search.warmup_s + search.measure_s * (1 + EXTENSIONS) + 2)


def verdict(
    deliveries: int,
    p95_ms: float | None,
    p95_ci_ms: tuple[float, float] | None,
    error_rate: float,
    slo: SLO,
) -> tuple[str, str]:
    """``(pass | fail | insufficient, reason)`` of one step.

    A pass needs the error rate within the SLO and either ``MIN_DELIVERIES`` deliveries with the p95
    within it or a p95 interval whose upper end is within it. A breach of the error rate, or a p95
    above the SLO whose interval lies above it too (or seen on enough deliveries), fails the step.
    Anything else is insufficient: too few samples to say.
    """
    limit = slo.delivery_p95_ms
    if error_rate > slo.error_rate:
        return FAIL, f"error rate {error_rate:.3f} > {slo.error_rate:.3f}"
    if p95_ms is None:
        return INSUFFICIENT, "no message was delivered"
    enough = deliveries >= MIN_DELIVERIES
    if p95_ms > limit and (enough or (p95_ci_ms is not None and p95_ci_ms[0] > limit)):
        return FAIL, f"delivery p95 {p95_ms:.0f} ms > {limit:.0f} ms ({deliveries} deliveries)"
    if p95_ms <= limit and (enough or (p95_ci_ms is not None and p95_ci_ms[1] <= limit)):
        return PASS, f"within SLO ({deliveries} deliveries)"
    return INSUFFICIENT, f"{deliveries} deliveries < {MIN_DELIVERIES} and the p95 interval does not settle it"


def judge_window(window: Window, slo: SLO) -> tuple[str, str]:
    """:func:`verdict` of a measured window."""
    histogram = window.entry(DELIVERY).histogram
    deliveries = window.entry(DELIVERY).requests
    ci = quantile_interval(histogram, 0.95)
    return verdict(deliveries, window.p(DELIVERY, 0.95), ci, window.error_rate, slo)


@dataclass(frozen=True)
class Step:
    """One measured load level."""

    users: int
    window: Window
    p95_delivery_ms: float | None
    error_rate: float
    messages_per_s: float
    verdict: str
    reason: str

    @property
    def passed(self) -> bool:
        return self.verdict == PASS

    @property
    def deliveries(self) -> int:
        return self.window.entry(DELIVERY).requests


class KneeFinder:
    """Decide the user count of each step from the measured windows of the steps before it."""

    def __init__(self, search: KneeSearch, slo: SLO) -> None:
        self.search, self.slo = search, slo
        self.users = min(search.start_users, search.max_users)
        self.best: Step | None = None  # highest passing step
        self.lowest_fail: int | None = None
        self.steps: list[Step] = []
        self.done = False
        self.converged = False  # the knee was bracketed (or max_users passed), not just out of steps
        self._step_start = 0.0
        self._mark: Snapshot | None = None  # snapshot at the end of the current warm-up
        self._extended = 0  # extra measure_s periods of the current step (too few samples)

    @property
    def windows(self) -> list[Window]:
        return [step.window for step in self.steps]

    def judge(self, window: Window) -> Step:
        """The step's :func:`verdict` (SLO on delivery p95 and error rate, with enough samples)."""
        outcome, reason = judge_window(window, self.slo)
        p95 = window.p(DELIVERY, 0.95)
        return Step(window.users, window, p95, window.error_rate, window.messages_per_s, outcome, reason)

    def _next_users(self, step: Step) -> int | None:
        s = self.search
        if step.verdict == INSUFFICIENT:
            # more users carry more deliveries; once a breach is bracketed, an unsettled step ends the search
            if self.lowest_fail is None and step.users < s.max_users:
                return min(step.users + s.step_users, s.max_users)
            return None
        if step.passed:
            if self.best is None or step.users > self.best.users:
                self.best = step
            if self.lowest_fail is None:
                if step.users >= s.max_users:
                    self.converged = True
                    return None
                return min(step.users + s.step_users, s.max_users)
        else:
            self.lowest_fail = step.users if self.lowest_fail is None else min(self.lowest_fail, step.users)
        low = self.best.users if self.best else 0
        high = self.lowest_fail if self.lowest_fail is not None else s.max_users
        if high - low <= s.resolution_users:
            self.converged = True
            return None
        return (low + high) // 2 if low else max(1, high // 2)

    def _warmup(self) -> float:
        """A step after a breach warms up twice as long: the overloaded step's queues drain first."""
        breached = bool(self.steps) and self.steps[-1].verdict == FAIL
        return self.search.warmup_s * (2 if breached else 1)

    def tick(self, run_time: float, read: Callable[[], Snapshot]) -> tuple[int, float] | None:
        """Users and spawn rate for now, or ``None`` when the knee is found (Locust then stops)."""
        if self.done:
            return None
        s = self.search
        elapsed = run_time - self._step_start
        warmup = self._warmup()
        if self._mark is None and elapsed >= warmup:
            self._mark = read()
        if self._mark is not None and elapsed >= warmup + s.measure_s * (1 + self._extended):
            step = self.judge(read().minus(self._mark))
            if step.verdict == INSUFFICIENT and self._extended < EXTENSIONS:
                self._extended += 1  # keep measuring the same step: its window grows
                return self.users, s.spawn_rate
            self._extended = 0
            self.steps.append(step)
            nxt = self._next_users(step) if len(self.steps) < s.max_steps else None
            if nxt is None:
                self.done = True
                return None
            self.users, self._step_start, self._mark = nxt, run_time, None
        return self.users, s.spawn_rate

    def result(self) -> dict[str, object]:
        """Supported users and messages/s at SLO, with every step (for ``summary.json``)."""
        best = self.best
        return {
            "supported_users": best.users if best else 0,
            "messages_per_s_at_slo": round(best.messages_per_s, 3) if best else 0.0,
            "delivery_p95_ms_at_slo": best.p95_delivery_ms if best else None,
            "lowest_failing_users": self.lowest_fail,
            "converged": self.converged,
            "steps": [
                {
                    "users": st.users,
                    "seconds": round(st.window.duration, 1),
                    "messages_per_s": round(st.messages_per_s, 3),
                    "deliveries": st.deliveries,
                    "delivery_p95_ms": st.p95_delivery_ms,
                    "delivery_p95_ci_ms": quantile_interval(st.window.entry(DELIVERY).histogram, 0.95),
                    "error_rate": round(st.error_rate, 5),
                    "node_cpu_s": st.window.node_cpu_s,
                    "verdict": st.verdict,
                    "passed": st.passed,
                    "reason": st.reason,
                }
                for st in self.steps
            ],
        }
