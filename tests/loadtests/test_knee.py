"""Knee finding against a model node of known capacity (the live test throttles a real node)."""

from __future__ import annotations

import pytest

from loadtests.knee import EXTENSIONS, FAIL, INSUFFICIENT, MIN_DELIVERIES, PASS, KneeFinder, verdict
from loadtests.schedule import LevelSchedule
from loadtests.stats import DELIVERY, Entry, Snapshot, percentile
from msgfleet.schema import SLO, KneeSearch

SEND = ("POST", "msg:private")


class ModelNode:
    """Each user sends ``rate`` messages/s; delivery time is ``base / (1 - ρ)`` (M/M/1-like) below
    capacity and far over the SLO above it. Integrates counts at 1 s resolution."""

    def __init__(self, capacity: float, rate: float = 0.5, base_ms: float = 20.0, fail_above: float = 2.0):
        self.capacity, self.rate, self.base_ms, self.fail_above = capacity, rate, base_ms, fail_above
        self.t = 0.0
        self.users = 0
        self.sent = 0
        self.failed = 0
        self.hist: dict[int, int] = {}

    def latency_ms(self, users: int) -> int:
        rho = users * self.rate / self.capacity
        return round(self.base_ms / (1 - rho)) if rho < 1 else 60_000

    def advance(self, until: float, users: int) -> None:
        while self.t + 1 <= until:
            n = round(users * self.rate)
            self.sent += n
            rho = users * self.rate / self.capacity
            self.failed += n if rho > self.fail_above else 0
            ms = self.latency_ms(users)
            self.hist[ms] = self.hist.get(ms, 0) + n
            self.t += 1
        self.users = users

    def snapshot(self) -> Snapshot:
        return Snapshot(
            self.t,
            self.users,
            {
                SEND: Entry(self.sent, self.failed),
                DELIVERY: Entry(self.sent - self.failed, 0, dict(self.hist)),
            },
        )

    def true_knee(self, slo_ms: float) -> int:
        users = 0
        while self.latency_ms(users + 1) <= slo_ms:
            users += 1
        return users


def run(finder: KneeFinder | LevelSchedule, node: ModelNode, limit_s: int = 5000) -> None:
    users = 0
    for second in range(limit_s):
        node.advance(second, users)
        decided = finder.tick(float(second), node.snapshot)
        if decided is None:
            return
        users = decided[0]
    raise AssertionError("knee finding did not stop")


@pytest.mark.parametrize("capacity", [40.0, 137.0, 500.0])
def test_converges_on_the_known_knee(capacity: float) -> None:
    search = KneeSearch(start_users=5, step_users=40, resolution_users=4, max_users=5000, max_steps=60)
    slo = SLO(delivery_p95_ms=300.0, error_rate=0.01)
    node = ModelNode(capacity)
    finder = KneeFinder(search, slo)
    run(finder, node)
    knee = node.true_knee(slo.delivery_p95_ms)
    result = finder.result()
    assert result["converged"]
    supported = result["supported_users"]
    assert isinstance(supported, int)
    assert knee - search.resolution_users <= supported <= knee, (supported, knee)
    # messages/s at the supported level is what the model node carried there
    assert result["messages_per_s_at_slo"] == pytest.approx(supported * node.rate, rel=0.1)
    passed = [s for s in finder.steps if s.passed]
    assert all(s.users <= knee for s in passed)
    assert all(s.users > knee for s in finder.steps if not s.passed)


def test_error_rate_breach_backs_off() -> None:
    # latency stays fine but requests fail above 60 users: the knee is the error threshold
    search = KneeSearch(start_users=10, step_users=20, resolution_users=2, max_users=1000, max_steps=40)
    node = ModelNode(capacity=1e6, rate=1.0, fail_above=60 / 1e6)
    finder = KneeFinder(search, SLO(delivery_p95_ms=300.0, error_rate=0.01))
    run(finder, node)
    assert 58 <= finder.result()["supported_users"] <= 60  # type: ignore[operator]
    assert any("error rate" in s.reason for s in finder.steps)


def test_stops_at_max_users_and_steps() -> None:
    search = KneeSearch(start_users=10, step_users=10, resolution_users=1, max_users=30, max_steps=40)
    finder = KneeFinder(search, SLO())
    run(finder, ModelNode(capacity=1e6))
    assert [s.users for s in finder.steps] == [10, 20, 30]
    assert finder.result()["supported_users"] == 30
    capped = KneeFinder(KneeSearch(start_users=1, step_users=1, max_steps=3), SLO())
    run(capped, ModelNode(capacity=1e6, rate=1.0))
    assert len(capped.steps) == 3
    assert not capped.result()["converged"]


def test_warmup_is_not_measured() -> None:
    # users jump at the start of each step; only what follows the warm-up counts
    search = KneeSearch(start_users=10, step_users=10, max_users=20, warmup_s=5, measure_s=10)
    finder = KneeFinder(search, SLO())
    run(finder, ModelNode(capacity=1e6, rate=1.0))
    first = finder.steps[0].window
    assert first.start == 5.0 and first.end == 15.0
    assert first.entry(SEND).requests == 10 * 10


def test_percentile_of_histogram() -> None:
    hist = {10: 90, 500: 10}
    assert percentile(hist, 0.5) == 10
    assert percentile(hist, 0.95) == 500
    assert percentile({}, 0.5) is None


def test_level_schedule_measures_each_level_after_warmup() -> None:
    schedule = LevelSchedule([2, 4, 8], spawn_rate=10, warmup_s=3, measure_s=5)
    run(schedule, ModelNode(capacity=1e6, rate=1.0))
    assert [w.users for w in schedule.windows] == [2, 4, 8]
    assert [(w.start, w.end) for w in schedule.windows] == [(3, 8), (11, 16), (19, 24)]
    assert [w.entry(SEND).requests for w in schedule.windows] == [10, 20, 40]


def test_a_step_after_a_breach_warms_up_longer() -> None:
    search = KneeSearch(start_users=10, step_users=100, resolution_users=1, warmup_s=3, measure_s=5)
    finder = KneeFinder(search, SLO(delivery_p95_ms=300.0))
    run(finder, ModelNode(capacity=40.0))  # 110 users overload it at once
    first, second = finder.steps[0], finder.steps[1]
    assert first.passed and not second.passed
    third = finder.steps[2].window
    assert third.start - second.window.end == 2 * search.warmup_s
    fourth_gap = finder.steps[3].window.start - third.end
    assert fourth_gap == (2 if not finder.steps[2].passed else 1) * search.warmup_s


def test_a_verdict_needs_enough_deliveries_or_an_interval_that_settles_it() -> None:
    slo = SLO(delivery_p95_ms=300.0, error_rate=0.01)
    assert verdict(3, 100.0, None, 0.0, slo)[0] == INSUFFICIENT  # the p95 of 3 is their maximum
    assert verdict(MIN_DELIVERIES, 100.0, None, 0.0, slo)[0] == PASS
    assert verdict(25, 100.0, (80.0, 200.0), 0.0, slo)[0] == PASS  # the whole interval is within the SLO
    assert verdict(25, 100.0, (80.0, 400.0), 0.0, slo)[0] == INSUFFICIENT
    assert verdict(5, 1000.0, None, 0.0, slo)[0] == INSUFFICIENT
    assert verdict(25, 1000.0, (600.0, 2000.0), 0.0, slo)[0] == FAIL  # the whole interval is above it
    assert verdict(MIN_DELIVERIES, 1000.0, None, 0.0, slo)[0] == FAIL
    assert verdict(3, 100.0, None, 0.5, slo)[0] == FAIL  # errors fail a step whatever the latency
    assert verdict(0, None, None, 0.0, slo)[0] == INSUFFICIENT


def test_a_step_short_of_deliveries_is_extended_and_then_passes() -> None:
    # 2 users × 1 message/s: 10 deliveries per 5 s, too few for any verdict; after one extension 20,
    # all at 20 ms, whose p95 interval (20-20 ms) is within the SLO
    search = KneeSearch(start_users=2, step_users=1, max_users=2, warmup_s=1, measure_s=5)
    finder = KneeFinder(search, SLO(delivery_p95_ms=300.0))
    run(finder, ModelNode(capacity=1e6, rate=1.0))
    (step,) = finder.steps
    assert step.window.duration == 2 * search.measure_s < (1 + EXTENSIONS) * search.measure_s
    assert step.deliveries == 20 and step.verdict == PASS


def test_a_step_that_stays_short_is_insufficient_never_passed() -> None:
    search = KneeSearch(start_users=1, step_users=1, max_users=1, warmup_s=1, measure_s=5)
    finder = KneeFinder(search, SLO(delivery_p95_ms=300.0))
    run(finder, ModelNode(capacity=1e6, rate=1.0))  # 15 deliveries after both extensions, all fast
    (step,) = finder.steps
    assert step.deliveries == 15 and step.verdict == INSUFFICIENT and not step.passed
    result = finder.result()
    assert result["supported_users"] == 0 and result["steps"][0]["verdict"] == INSUFFICIENT  # type: ignore[index]
