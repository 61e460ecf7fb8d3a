"""Knee finding: the largest user count whose step keeps delivery p95 and error rate within the SLO.

In the spirit of mattermost-load-test-ng's coordinator: step users up while each step passes;
after a breach, bisect between the best passing and the lowest failing level until they are
``resolution_users`` apart. Each step runs ``warmup_s`` (not measured: users spawn; twice as long
after a breach, so that the overloaded step's queues drain) and then ``measure_s`` (measured).
:meth:`KneeFinder.tick` depends only on the run time and the statistics it reads, so it is
tested without Locust.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from loadtests.stats import DELIVERY, Snapshot, Window
from msgfleet.schema import SLO, KneeSearch


@dataclass(frozen=True)
class Step:
    """One measured load level."""

    users: int
    window: Window
    p95_delivery_ms: float | None
    error_rate: float
    messages_per_s: float
    passed: bool
    reason: str


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

    @property
    def windows(self) -> list[Window]:
        return [step.window for step in self.steps]

    def judge(self, window: Window) -> Step:
        """Whether a window meets the SLO: deliveries seen, p95 and error rate within limits."""
        p95 = window.p(DELIVERY, 0.95)
        errors = window.error_rate
        if p95 is None:
            passed, reason = False, "no message was delivered"
        elif p95 > self.slo.delivery_p95_ms:
            passed, reason = False, f"delivery p95 {p95:.0f} ms > {self.slo.delivery_p95_ms:.0f} ms"
        elif errors > self.slo.error_rate:
            passed, reason = False, f"error rate {errors:.3f} > {self.slo.error_rate:.3f}"
        else:
            passed, reason = True, "within SLO"
        return Step(window.users, window, p95, errors, window.messages_per_s, passed, reason)

    def _next_users(self, step: Step) -> int | None:
        s = self.search
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
        breached = bool(self.steps) and not self.steps[-1].passed
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
        if self._mark is not None and elapsed >= warmup + s.measure_s:
            step = self.judge(read().minus(self._mark))
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
                    "messages_per_s": round(st.messages_per_s, 3),
                    "delivery_p95_ms": st.p95_delivery_ms,
                    "error_rate": round(st.error_rate, 5),
                    "passed": st.passed,
                    "reason": st.reason,
                }
                for st in self.steps
            ],
        }
