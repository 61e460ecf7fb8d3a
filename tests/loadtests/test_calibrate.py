"""Calibration arithmetic on a recorded load test (tests/data/locust/levels-3, 3 load levels, 2 nodes).

Each figure is recomputed here from the CSVs by a route independent of the code under test.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pandas as pd
import pytest
from scipy.stats import lognorm

from loadtests.calibrate import calibrated_plan, fit_lognormal, levels_of, measure, service_time_of
from loadtests.errors import LoadTestError
from loadtests.summary import active_user_hours
from msgfleet.schema import SLO, dump_plan, load_plan

ROOT = Path(__file__).resolve().parents[2]
RUN = ROOT / "tests" / "data" / "locust" / "levels-3"
PLAN = ROOT / "rollout_plans" / "dev-3-states.yaml"


@pytest.fixture
def steps() -> pd.DataFrame:
    return pd.read_csv(RUN / "steps.csv")


@pytest.fixture
def summary() -> dict:
    return json.loads((RUN / "summary.json").read_text())


@pytest.mark.parametrize(("median", "sigma"), [(12.0, 0.3), (40.0, 0.9), (3.0, 0.05)])
def test_lognormal_fit_recovers_known_parameters(median: float, sigma: float) -> None:
    dist = lognorm(s=sigma, scale=median)
    mu, fitted = fit_lognormal({q: float(dist.ppf(q)) for q in (0.5, 0.95, 0.99)})
    assert math.exp(mu) == pytest.approx(median, rel=1e-9)
    assert fitted == pytest.approx(sigma, rel=1e-9)


def test_lognormal_fit_needs_two_quantiles() -> None:
    with pytest.raises(LoadTestError):
        fit_lognormal({0.5: 10.0})


def test_levels_match_the_recorded_steps(steps: pd.DataFrame) -> None:
    slo = SLO(delivery_p95_ms=300, error_rate=0.01)
    levels = levels_of(steps, slo)
    assert [lv.users for lv in levels] == sorted(steps["users"].unique().tolist())
    for level, (_, step) in zip(levels, steps.groupby("step"), strict=True):
        sends = step[step["name"].str.startswith("msg:") & (step["type"] != "ALL")]
        duration = step["end_s"].iloc[0] - step["start_s"].iloc[0]
        assert level.messages_per_s == pytest.approx(
            (sends.requests - sends.failures).sum() / duration, abs=1e-3
        )
        deliver = step[(step["type"] == "WS") & (step["name"] == "deliver")]["p95_ms"].iloc[0]
        assert level.delivery_p95_ms == deliver
        assert level.passed == (deliver <= 300 and level.error_rate <= 0.01)
    # a looser SLO can only let more levels pass
    loose = levels_of(steps, SLO(delivery_p95_ms=10_000, error_rate=0.5))
    assert sum(lv.passed for lv in loose) >= sum(lv.passed for lv in levels)


def test_measure_takes_capacity_and_use_from_the_run(summary: dict, steps: pd.DataFrame) -> None:
    slo = SLO(delivery_p95_ms=10_000, error_rate=0.5)  # every recorded level counts as within SLO
    m = measure(RUN, slo)
    best = max(levels_of(steps, slo), key=lambda lv: lv.messages_per_s)
    assert m.messages_per_s_at_slo == best.messages_per_s
    assert m.messages_per_s_per_pod == pytest.approx(best.messages_per_s / summary["nodes"])
    server = summary["server"]["total"]
    assert m.messages_stored == server["messages_stored"]
    assert m.messages_per_s_per_cpu == pytest.approx(
        server["messages_stored"] / server["cpu_seconds"], rel=1e-3
    )
    # service time from the nodes' CPU; other requests per message from the recorded mix
    assert m.service_time.basis == "node CPU per request"
    own = steps[(steps["type"] != "ALL") & ~((steps["type"] == "WS") & (steps["name"] == "deliver"))]
    sends = own[own["name"].str.startswith("msg:")]
    assert m.service_time.requests_per_message == pytest.approx(
        own["requests"].sum() / sends["requests"].sum() - 1, rel=1e-3
    )
    assert 0 < m.service_time.mean_ms < 1000 * steps["node_cpu_s"].max()


def _synthetic_steps(per_request_s: float, idle_per_s: float, others: int) -> pd.DataFrame:
    """Three steps whose node CPU is exactly ``per_request_s`` per request plus ``idle_per_s`` per second."""
    rows = []
    for step, (messages, seconds) in enumerate([(20, 10.0), (50, 12.0), (140, 9.0)], start=1):
        requests = messages * (1 + others)
        cpu = per_request_s * requests + idle_per_s * seconds
        base = {"step": step, "start_s": 0.0, "end_s": seconds, "users": 10 * step, "node_cpu_s": cpu}
        rows += [
            {**base, "type": "POST", "name": "msg:private", "requests": messages, "failures": 0},
            {**base, "type": "GET", "name": "chat:history", "requests": requests - messages, "failures": 0},
            {**base, "type": "WS", "name": "deliver", "requests": messages, "failures": 0, "p95_ms": 50.0},
            {**base, "type": "ALL", "name": "msg:*", "requests": messages, "failures": 0},
        ]
    return pd.DataFrame(rows)


def test_service_time_separates_per_request_cpu_from_idle_work() -> None:
    fitted = service_time_of(_synthetic_steps(per_request_s=0.004, idle_per_s=0.05, others=3))
    assert fitted.mean_ms == pytest.approx(4.0, rel=1e-6)  # not the 4 ms + idle share a plain ratio gives
    assert fitted.requests_per_message == pytest.approx(3.0)
    assert (fitted.cv, fitted.users, fitted.samples) == (1.0, 10, (20 + 50 + 140) * 4)


def test_without_node_cpu_service_time_falls_back_to_low_load_latency() -> None:
    steps = _synthetic_steps(0.004, 0.05, 3).drop(columns="node_cpu_s")
    steps["p50_ms"], steps["p99_ms"] = 20.0, 90.0
    fitted = service_time_of(steps)
    assert fitted.basis.startswith("delivery latency at low load")
    assert fitted.median_ms == pytest.approx(20.0, rel=0.2) and fitted.requests_per_message == 0.0


def test_a_run_where_no_level_met_the_slo_is_refused() -> None:
    with pytest.raises(LoadTestError, match="no load step met the SLO"):
        measure(RUN, SLO(delivery_p95_ms=0.001, error_rate=0.0))


def test_active_user_hours_integrate_the_history() -> None:
    history = pd.read_csv(RUN / "locust_stats_history.csv")
    agg = history[history["Name"] == "Aggregated"].sort_values("Timestamp")
    times, users = agg["Timestamp"].to_list(), agg["User Count"].to_list()
    manual = sum(users[i] * (times[i + 1] - times[i]) for i in range(len(times) - 1))
    assert manual > 0
    assert active_user_hours(history) == pytest.approx(manual / 3600)


def test_calibrated_plan_is_valid_and_traceable(tmp_path: Path) -> None:
    plan = load_plan(PLAN)
    m = measure(RUN, SLO(delivery_p95_ms=10_000, error_rate=0.5))
    calibrated = calibrated_plan(plan, m, reserved_pods={"RU-NVS": 3}, sim_p95_max_error=0.1)
    assert not m.saturated  # with this SLO every recorded step passed: the rate is a lower bound
    assert m.messages_per_s_per_cpu is not None
    expected = max(m.messages_per_s_per_pod, m.messages_per_s_per_cpu * plan.capacity.pod_cpu)
    assert calibrated.capacity.messages_per_s_per_pod == pytest.approx(expected, rel=1e-3)
    assert calibrated.capacity.service_time_ms_mean == m.service_time.mean_ms
    assert str(RUN) in calibrated.capacity.source or m.run_dir in calibrated.capacity.source
    assert calibrated.calibration is not None
    assert calibrated.calibration.reserved_pods == {"RU-NVS": 3}
    if m.reply_ratio is None:  # the node does not meter replies: the plan's figure stays
        assert calibrated.demand.reply_ratio == plan.demand.reply_ratio
    out = tmp_path / "calibrated.yaml"
    dump_plan(calibrated, out)
    assert load_plan(out) == calibrated


def test_capacity_of_a_saturated_run_is_the_rate_at_slo(steps: pd.DataFrame) -> None:
    # the strictest SLO that still lets one recorded step pass makes every slower step fail
    p95s = sorted(lv.delivery_p95_ms for lv in levels_of(steps, SLO()) if lv.delivery_p95_ms is not None)
    slo = SLO(delivery_p95_ms=p95s[0], error_rate=0.5)
    m = measure(RUN, slo)
    assert m.saturated
    assert m.pod_capacity(pod_cpu=4.0) == (m.messages_per_s_per_pod, "rate at the SLO")


def test_unsaturated_capacity_takes_the_higher_cpu_estimate() -> None:
    m = measure(RUN, SLO(delivery_p95_ms=10_000, error_rate=0.5))
    assert m.messages_per_s_per_cpu is not None
    big, basis = m.pod_capacity(pod_cpu=1000.0)
    assert big == pytest.approx(m.messages_per_s_per_cpu * 1000.0) and "CPU" in basis
    small, basis = m.pod_capacity(pod_cpu=1e-6)
    assert small == m.messages_per_s_per_pod and "lower bound" in basis


def test_missing_run_files_are_named(tmp_path: Path) -> None:
    shutil.copy(RUN / "summary.json", tmp_path / "summary.json")
    with pytest.raises(LoadTestError, match=r"steps\.csv"):
        measure(tmp_path, SLO())


def test_summary_rebuilt_from_the_recorded_csvs(summary: dict) -> None:
    from loadtests.config import RunConfig
    from loadtests.summary import build_summary

    config = RunConfig.read(RUN / "run.json")
    config.out_dir = str(RUN)
    scrapes = summary["scrapes"]
    rebuilt = build_summary(RUN, config, scrapes["before"], scrapes["after"])
    stats = pd.read_csv(RUN / "locust_stats.csv")
    total = stats[stats["Name"] == "Aggregated"].iloc[0]
    assert rebuilt["requests"] == total["Request Count"]
    assert rebuilt["failures"] == total["Failure Count"]
    deliver = stats[(stats["Type"] == "WS") & (stats["Name"] == "deliver")].iloc[0]
    assert rebuilt["delivery"]["requests"] == deliver["Request Count"]
    assert rebuilt["delivery"]["p95_ms"] == deliver["95%"]
    # server counters are the growth between the two scrapes, per node and in total
    after, before = scrapes["after"], scrapes["before"]
    grown = sum(
        after[s]["msgfleet_messages_stored_total"] - before[s].get("msgfleet_messages_stored_total", 0)
        for s in after
    )
    assert rebuilt["server"]["total"]["messages_stored"] == pytest.approx(grown)
    assert rebuilt["server"] == summary["server"]
