"""Link failures: coverage and latency re-route; a partition is reported, never a crash."""

import math

import pytest

from msgfleet.schema import parse_plan
from sim.latency import run_latency
from sim.rollout import run_rollout
from sim.topology import backbone

PLAN = """\
name: cut
country: RU
residency: {residency}
horizon_days: 200
sites: [{{state: RU-MOW}}, {{state: RU-KGD}}]
phases:
  - {{name: one, start_day: 0, sites: [RU-MOW, RU-KGD]}}
latency: {{duration_s: 3, warmup_s: 1, replications: 2}}
"""


def _isolate(plan, state: str) -> tuple[tuple[str, str], ...]:
    return tuple((state, other) for _, other in backbone(plan).edges(state))


def test_cut_off_state_is_not_covered_under_national_residency() -> None:
    plan = parse_plan(PLAN.format(residency="national").replace("RU-MOW, RU-KGD]", "RU-MOW]"))
    plan = plan.model_copy(update={"sites": plan.sites[:1]})
    whole = run_rollout(plan)
    cut = run_rollout(plan, failed_links=_isolate(plan, "RU-KGD"))
    assert "RU-KGD" in whole.timeline.homes[0] and "RU-KGD" not in cut.timeline.homes[0]
    assert cut.daily["reach"].iloc[-1] < whole.daily["reach"].iloc[-1]
    summary = cut.summary()
    assert summary["partition"]["islands"][-1] == ["RU-KGD"]
    assert whole.summary()["partition"] is None


def test_latency_reports_undeliverable_share_across_a_partition() -> None:
    plan = parse_plan(PLAN.format(residency="home_state"))
    run = run_latency(plan, workers=1, failed_links=_isolate(plan, "RU-KGD"))
    phase = run.summary()["phases"][0]
    # Two live states, cut apart: exactly their cross-state messages are lost.
    assert phase["undeliverable_share"] == pytest.approx(plan.demand.cross_state_share)
    pairs = run.pairs()
    crossing = pairs[(pairs["origin"] != pairs["destination"]) & (pairs["kind"] == "message")]
    assert crossing.empty, "no message may cross the partition"
    assert math.isfinite(run.overall(1).p95_ms)
