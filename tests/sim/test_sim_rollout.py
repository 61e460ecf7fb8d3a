"""Rollout runs: daily series, target day, outputs, and the command line."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from msgfleet.schema import load_plan, parse_plan
from sim.rollout import run_rollout, write_rollout

ROOT = Path(__file__).resolve().parents[2]
DEV = ROOT / "rollout_plans" / "dev-3-states.yaml"
PLANS = sorted((ROOT / "rollout_plans").glob("*.yaml"))

REACHING = """\
name: de-test
country: DE
horizon_days: 400
sites: [{state: DE-NW}, {state: DE-BY}, {state: DE-BW}, {state: DE-NI}]
phases:
  - {name: west, start_day: 0, sites: [DE-NW]}
  - {name: south, start_day: 100, sites: [DE-BY, DE-BW]}
  - {name: north, start_day: 300, sites: [DE-NI]}
"""


@pytest.fixture(scope="module")
def dev_result():
    return run_rollout(load_plan(DEV))


def test_daily_series_is_complete_and_monotone(dev_result) -> None:
    daily = dev_result.daily
    assert list(daily["day"]) == list(range(dev_result.plan.horizon_days + 1))
    assert np.all(np.diff(daily["reach"]) >= 0) and np.all(np.diff(daily["active_users"]) >= -1e-6)
    assert daily["reach"].max() <= 1
    phase_two = dev_result.plan.phases[1].start_day
    assert daily.loc[phase_two - 1, "live_sites"] == 2 and daily.loc[phase_two, "live_sites"] == 3


def test_target_day_is_the_first_day_at_or_above_target() -> None:
    result = run_rollout(parse_plan(REACHING))
    day = result.target_day
    assert day is not None
    coverage = result.daily["coverage"].to_numpy()
    assert coverage[day] >= 0.6 > coverage[day - 1]
    assert "reached" in result.outcome
    short = run_rollout(parse_plan(REACHING), stop_at_target=True)
    assert short.daily["day"].iloc[-1] == max(day, 300)


def test_horizon_without_target_says_so(dev_result) -> None:
    assert dev_result.target_day is None
    assert "horizon ended" in dev_result.outcome


def test_outputs_have_the_documented_columns(dev_result, tmp_path: Path) -> None:
    write_rollout(dev_result, tmp_path)
    rollout = pd.read_csv(tmp_path / "rollout.csv")
    assert list(rollout.columns) == [
        "day",
        "phase",
        "live_sites",
        "reach",
        "active_users",
        "active_share",
        "coverage",
        "messages_per_day",
        "call_minutes_per_day",
    ]
    sites = pd.read_csv(tmp_path / "sites.csv")
    assert {
        "state",
        "phase",
        "pods",
        "needed_pods",
        "utilisation",
        "capped",
        "over_capacity",
        "turn_channels",
        "reserved_pods",
        "reserved_node_pods",
        "reserved_turn_relays",
        "cost_per_month",
    } <= set(sites.columns)
    cash = pd.read_csv(tmp_path / "cashflow.csv")
    assert {"year", "phase", "revenue", "cost_fixed", "cost_variable", "cost_reserved", "net"} <= set(
        cash.columns
    )
    assert sites.loc[sites["state"] == "RU-NVS", "reserved_pods"].iloc[0] > 0  # reserved during phase 1
    tariffs = pd.read_csv(tmp_path / "tariffs.csv")
    assert list(tariffs["phase"]) == [p.name for p in dev_result.plan.phases]
    summary = json.loads((tmp_path / "summary.json").read_text())
    for key in (
        "country",
        "national_population",
        "population_source",
        "warnings",
        "economics",
        "target",
        "metric",
        "target_day",
        "phases",
        "final_tariffs",
        "reservations",
    ):
        assert key in summary
    assert summary["reservations"]["1"][0]["state"] == "RU-NVS"


@pytest.mark.parametrize("path", PLANS, ids=[p.name for p in PLANS])
def test_shipped_national_plans_reach_their_target(path: Path) -> None:
    plan = load_plan(path)
    result = run_rollout(plan)
    if "national" in path.name:
        assert result.target_day is not None, result.outcome
    assert not any(z.capped for z in result.sizings), "a site needs more than capacity.max_pods"


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "msgfleet.cli", *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_cli_rollout_writes_files(tmp_path: Path) -> None:
    done = _cli("sim", "rollout", "--plan", str(DEV), "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out" / "rollout.csv").exists() and "horizon ended" in done.stdout


def test_cli_malformed_plan_is_one_line_naming_file_line_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(DEV.read_text().replace("max_rtt_ms: 60", "max_rtt_ms: -5"))
    done = _cli("sim", "rollout", "--plan", str(bad), "--out", str(tmp_path / "o"), cwd=tmp_path)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and f"{bad}:" in lines[0] and "slo.max_rtt_ms" in lines[0], done.stderr


def test_cli_plan_proposes_a_plan_that_reaches_the_target(tmp_path: Path) -> None:
    out = tmp_path / "p.yaml"
    done = _cli(
        "sim",
        "plan",
        "--country",
        "DE",
        "--target",
        "0.6",
        "--max-rtt-ms",
        "60",
        "--out",
        str(out),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert run_rollout(load_plan(out)).target_day is not None


def test_active_user_metric_reaches_the_target_later_than_reach() -> None:
    by_reach = run_rollout(parse_plan(REACHING.replace("horizon_days: 400", "horizon_days: 4000")))
    plan = parse_plan(
        REACHING.replace("horizon_days: 400", "horizon_days: 4000") + "coverage_metric: active_users\n"
    )
    by_users = run_rollout(plan)
    daily = by_users.daily
    national = by_users.timeline.states.national_population
    assert np.allclose(daily["coverage"], daily["active_users"] / national)
    assert by_users.target_day is None or by_users.target_day > by_reach.target_day
    # Bass adoption caps active users at market_share of the live population.
    assert daily["coverage"].max() <= plan.adoption.market_share * daily["reach"].max() + 1e-9


def test_cli_latency_writes_pairs_cdf_and_summary(tmp_path: Path) -> None:
    plan = tmp_path / "quick.yaml"
    plan.write_text(DEV.read_text() + "latency: {duration_s: 2, warmup_s: 0.5, replications: 2}\n")
    done = _cli(
        "sim", "latency", "--plan", str(plan), "--out", str(tmp_path / "o"), "--workers", "1", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    pairs = pd.read_csv(tmp_path / "o" / "latency.csv")
    assert {"p50_ms", "p95_ms", "p99_ms", "p95_ci_low_ms", "over_slo_share", "slo_violated"} <= set(
        pairs.columns
    )
    assert (pairs["p50_ms"] <= pairs["p95_ms"]).all() and (pairs["p95_ms"] <= pairs["p99_ms"] + 1e-9).all()
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert [p["phase"] for p in summary["latency"]["phases"]] == [1, 2]
    assert "SLO 300 ms met" in done.stdout.replace("\n", " ")
