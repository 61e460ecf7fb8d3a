"""Calibration arithmetic on a recorded load test (tests/data/locust/levels-4: 4 load levels of the demo's
mix, 2 nodes pinned to one CPU, the load generator on the other, on a machine shared with other work).

Each figure is recomputed here from the CSVs by a route independent of the code under test. The recorded
run is a contended one: the nodes waited longer for a CPU than they ran (``node_wait_s``).
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pandas as pd
import pytest
from scipy.stats import lognorm

from loadtests.calibrate import (
    MIN_MESSAGES,
    calibrated_plan,
    calls_placed,
    cpu_cost,
    fit_lognormal,
    levels_of,
    measure,
    service_time_of,
    wilson,
)
from loadtests.errors import LoadTestError
from loadtests.summary import active_user_hours
from msgfleet.schema import SLO, load_plan

ROOT = Path(__file__).resolve().parents[2]
RUN = ROOT / "tests" / "data" / "locust" / "levels-4"
PLAN = RUN / "plan.yaml"
LOOSE = SLO(delivery_p95_ms=1000, error_rate=0.01)  # every judged recorded step within it
TIGHT = SLO(delivery_p95_ms=600, error_rate=0.01)  # the 8-user step (720 ms, 31 deliveries) breaks it


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


def _deliveries(step: pd.DataFrame) -> pd.Series:
    return step[(step["type"] == "WS") & (step["name"] == "deliver")].iloc[0]


def test_levels_match_the_recorded_steps_with_the_minimum_sample_rule(steps: pd.DataFrame) -> None:
    levels = levels_of(steps, LOOSE)
    assert [lv.users for lv in levels] == [4, 8, 16, 24]
    for level, (_, step) in zip(levels, steps.groupby("step"), strict=True):
        sends = step[step["name"].str.startswith("msg:") & (step["type"] != "ALL")]
        duration = step["end_s"].iloc[0] - step["start_s"].iloc[0]
        assert level.messages_per_s == pytest.approx(
            (sends.requests - sends.failures).sum() / duration, abs=1e-3
        )
        deliver = _deliveries(step)
        assert (level.delivery_p95_ms, level.deliveries) == (deliver["p95_ms"], deliver["requests"])
        assert (
            level.node_cpu_s == step["node_cpu_s"].iloc[0]
            and level.node_wait_s == step["node_wait_s"].iloc[0]
        )
        # the runner's own verdict, written into steps.csv, agrees with calibration's
        assert (
            level.verdict == step["verdict"].iloc[0] or step["verdict"].iloc[0] == "fail"
        )  # recorded at 300 ms
    # 10 deliveries and no interval: the first step has no verdict, whatever its p95
    assert levels[0].deliveries < 20 and levels[0].verdict == "insufficient" and not levels[0].passed
    assert [lv.verdict for lv in levels[1:]] == ["pass", "pass", "pass"]
    assert [lv.verdict for lv in levels_of(steps, TIGHT)[1:]] == ["fail", "pass", "pass"]


def test_cpu_per_message_is_node_cpu_over_messages_of_the_judged_steps(steps: pd.DataFrame) -> None:
    levels = levels_of(steps, LOOSE)
    cost = cpu_cost(levels)
    assert cost is not None
    used = []
    for _, step in steps.groupby("step"):
        sends = step[step["name"].str.startswith("msg:") & (step["type"] != "ALL")]
        sent = (sends.requests - sends.failures).sum()
        if sent >= MIN_MESSAGES and step["verdict"].iloc[0] != "insufficient":
            used.append((step["node_cpu_s"].iloc[0], sent))
    assert cost.steps == len(used) == 2  # the 8-user step sent 29 messages
    assert cost.per_message_s == pytest.approx(sum(c for c, _ in used) / sum(n for _, n in used))
    ratios = pd.Series([c / n for c, n in used])
    assert cost.stderr_s == pytest.approx(ratios.std(ddof=1) / math.sqrt(len(used)))


def test_capacity_comes_from_node_cpu_at_the_plans_pod_size() -> None:
    plan = load_plan(PLAN)
    m = measure(RUN, LOOSE)
    assert m.cpu is not None and m.bottleneck == "none"
    capacity, basis = m.pod_capacity(plan.capacity.pod_cpu)
    assert capacity == pytest.approx(plan.capacity.pod_cpu / m.cpu.per_message_s)
    assert "node CPU per message" in basis
    # the knee per node is far lower: on this run nodes never used their CPU (messages per CPU-second)
    assert m.messages_per_s_per_pod < capacity
    calibrated = calibrated_plan(plan, m)
    assert calibrated.capacity.messages_per_s_per_pod == pytest.approx(capacity, abs=1e-3)
    assert calibrated.calibration is not None
    assert calibrated.calibration.messages_per_s_per_cpu == pytest.approx(1 / m.cpu.per_message_s, abs=1e-3)


def test_a_contended_run_does_not_lower_the_capacity(summary: dict) -> None:
    # the SLO breaks at 8 users while the nodes used a fifth of their CPU and waited longer for a CPU
    # than they ran: the machine, not the node, broke it
    m = measure(RUN, TIGHT)
    breach = m.first_breach
    assert breach is not None and breach.users == 8
    assert breach.node_cpu_s / breach.seconds < 0.6 * len(summary["cpu_affinity"]["nodes"])
    assert breach.node_wait_s > breach.node_cpu_s
    assert m.bottleneck == "outside the node: the machine"
    loose = measure(RUN, LOOSE)
    assert m.pod_capacity(1.0)[0] == pytest.approx(loose.pod_capacity(1.0)[0])  # not lowered
    assert m.pod_capacity(1.0)[0] == pytest.approx(1 / m.cpu.per_message_s)  # type: ignore[union-attr]


def test_a_breach_on_busy_nodes_bounds_the_capacity_by_the_knee(tmp_path: Path, steps: pd.DataFrame) -> None:
    # the same run, but the breaking step's nodes ran flat out and never waited for a CPU
    for name in ("summary.json", "locust_stats_history.csv"):
        shutil.copy(RUN / name, tmp_path / name)
    busy = steps.copy()
    breaking = busy["step"] == 2
    seconds = busy.loc[breaking, "end_s"].iloc[0] - busy.loc[breaking, "start_s"].iloc[0]
    busy.loc[breaking, "node_cpu_s"] = 0.95 * seconds  # 95% of the one node CPU
    busy.loc[breaking, "node_wait_s"] = 0.0
    busy.to_csv(tmp_path / "steps.csv", index=False)
    m = measure(tmp_path, TIGHT)
    assert m.bottleneck == "node"
    best = max((lv for lv in m.levels if lv.passed), key=lambda lv: lv.messages_per_s)
    by_knee = best.messages_per_s / m.nodes / min(1 / m.nodes, 1.0) * 2.0  # one CPU for both nodes
    assert m.cpu is not None
    by_cpu = 2.0 / m.cpu.per_message_s
    assert m.pod_capacity(2.0)[0] == pytest.approx(min(by_knee, by_cpu))


def test_reply_ratio_and_minutes_come_from_the_node_counters(summary: dict) -> None:
    plan = load_plan(PLAN)
    m = measure(RUN, LOOSE)
    server = summary["server"]["total"]
    replies, stored = server["replies_stored"], server["messages_stored"]
    assert m.reply_ratio == pytest.approx(replies / (stored - replies))  # replies per received first message
    low, high = wilson(replies, stored - replies)  # type: ignore[misc]
    assert low < plan.demand.reply_ratio < high  # the load asked for the plan's ratio and got it
    # minutes from metered seconds, not from the rounded billable minutes
    assert server["call_minutes_billed"] != pytest.approx(server["call_seconds"] / 60)
    calibrated = calibrated_plan(plan, m)
    assert calibrated.calibration is not None
    expected = server["call_seconds"] / 60 / summary["active_user_hours"]
    assert calibrated.calibration.call_minutes_per_active_user_hour == pytest.approx(expected, abs=1e-3)
    assert calibrated.demand.reply_ratio == plan.demand.reply_ratio  # the load's echo is not written back


def test_checks_pass_on_the_recorded_run_and_name_what_fails(tmp_path: Path, summary: dict) -> None:
    m = measure(RUN, LOOSE)
    placed = calls_placed(RUN)
    assert placed > 0
    assert all(check.passed for check in m.checks(placed)), m.checks(placed)
    # calls were made but no second was metered: the minutes check fails, naming the calls
    broken = json.loads(json.dumps(summary))
    broken["server"]["total"]["call_seconds"] = 0.0
    for name in ("steps.csv", "locust_stats_history.csv"):
        shutil.copy(RUN / name, tmp_path / name)
    (tmp_path / "summary.json").write_text(json.dumps(broken))
    failed = [c for c in measure(tmp_path, LOOSE).checks(placed) if not c.passed]
    assert [c.name for c in failed] == ["minutes > 0 when calls were made"]
    assert f"{placed} calls placed" in failed[0].detail


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


def test_a_run_where_no_level_met_the_slo_fails_its_check() -> None:
    m = measure(RUN, SLO(delivery_p95_ms=1, error_rate=0.0))
    assert m.messages_per_s_at_slo == 0.0 and m.supported_users is None
    failed = {c.name: c for c in m.checks(calls_placed(RUN)) if not c.passed}
    assert "0 of 4 steps passed" in failed["a step within the SLO"].detail


def test_active_user_hours_integrate_the_history() -> None:
    history = pd.read_csv(RUN / "locust_stats_history.csv")
    agg = history[history["Name"] == "Aggregated"].sort_values("Timestamp")
    times, users = agg["Timestamp"].to_list(), agg["User Count"].to_list()
    manual = sum(users[i] * (times[i + 1] - times[i]) for i in range(len(times) - 1))
    assert manual > 0
    assert active_user_hours(history) == pytest.approx(manual / 3600)


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
    socket = stats[stats["Type"] == "WS"]
    # HTTP requests and socket events apart; together they are Locust's aggregate
    assert rebuilt["socket_events"] == socket["Request Count"].sum()
    assert rebuilt["http_requests"] + rebuilt["socket_events"] == total["Request Count"]
    assert rebuilt["http_failures"] + rebuilt["socket_failures"] == total["Failure Count"]
    assert rebuilt["message_deliveries"] < rebuilt["socket_events"]  # connects are no deliveries
    assert rebuilt["cpu_affinity"]["pinned"] == (config.node_cpus != [])
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
