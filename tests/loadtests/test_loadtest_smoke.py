"""A few seconds of real load against a fleet started by the test, then calibration of its result."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from loadtests.run import run_loadtest
from msgfleet.calibration import calibrate
from msgfleet.schema import load_plan

ROOT = Path(__file__).resolve().parents[2]
PLAN = ROOT / "rollout_plans" / "dev-3-states.yaml"


def smoke_plan(tmp_path: Path) -> Path:
    """The dev plan with a brisk mix and short calls, so that a few seconds exercise everything.

    The SLO is loose: this checks the machinery on a shared machine, not the node's speed.
    """
    data = yaml.safe_load(PLAN.read_text())
    data["loadtest"] = {
        "weights": {
            "private_send": 5,
            "reply": 2,
            "group_send": 2,
            "read_sync": 3,
            "call": 2,
            "media_send": 1,
            "idle": 1,
        },
        "think_time_s": [0.2, 0.6],
        "call_duration_s": [1.0, 2.0],
        "group_size": 3,
    }
    data["slo"] = {"delivery_p95_ms": 5000, "error_rate": 0.05}
    data["latency"] = {"replications": 2, "duration_s": 30.0, "warmup_s": 5.0}  # a quick simulator check
    path = tmp_path / "smoke.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_short_load_delivers_meters_and_calibrates(tmp_path: Path) -> None:
    plan = smoke_plan(tmp_path)
    out = tmp_path / "run"
    summary = run_loadtest(out, plan=str(plan), levels=[6, 12], spawn_rate=8, duration_s=8, quiet=True)

    on_disk = json.loads((out / "summary.json").read_text())
    assert on_disk == json.loads(json.dumps(summary))
    for name in ("locust_stats.csv", "locust_stats_history.csv", "report.html", "steps.csv"):
        assert (out / name).stat().st_size > 0, name
    assert summary["nodes"] == 2 and summary["users"] == 12
    delivered = summary["delivery"]
    assert delivered is not None and delivered["requests"] > 0, "no message reached a recipient's socket"
    assert summary["message_deliveries"] == delivered["requests"] < summary["socket_events"]
    http = [r for r in summary["per_request"] if r["type"] != "WS"]
    assert summary["http_requests"] == sum(r["requests"] for r in http)
    server = summary["server"]["total"]
    sent = sum(r["requests"] - r["failures"] for r in summary["per_request"] if r["name"].startswith("msg:"))
    # every node stores what it must keep: a message once per node at most (federated copies)
    assert 0 < server["messages_stored"] <= summary["nodes"] * sent
    # users hang up when they stop: every call the nodes started ended inside the run, metered in seconds
    # (one call may still be starting when its user is stopped: its id never reached the user)
    assert server["calls_started"] > 0 and server["calls_ended"] >= server["calls_started"] - 1
    assert server["call_seconds"] is not None and server["call_seconds"] > 0, "no call seconds metered"
    assert server["replies_stored"] > 0  # asked for at demand.reply_ratio
    assert server["cpu_seconds"] > 0
    affinity = summary["cpu_affinity"]
    if affinity["machine_cpus"] and affinity["machine_cpus"] > 1:
        assert affinity["pinned"] and not set(affinity["nodes"]) & set(affinity["load_generator"])
    steps = pd.read_csv(out / "steps.csv")
    assert sorted(steps["users"].unique()) == [6, 12]
    assert set(steps["verdict"]) <= {"pass", "fail", "insufficient"}
    assert steps["node_cpu_ms_per_message"].notna().all() and steps["generator_cpu_s"].notna().all()
    bounded = steps.dropna(subset=["p95_low_ms", "p95_high_ms"])
    assert (bounded["p95_low_ms"] <= bounded["p95_ms"]).all()
    assert (bounded["p95_ms"] <= bounded["p95_high_ms"]).all()

    calibrated_path = tmp_path / "calibrated.yaml"
    result = calibrate(out, plan, calibrated_path, force=True)  # a few seconds of load: checks may fail
    assert len(result.checks) == 5
    calibrated = load_plan(calibrated_path)
    assert calibrated.calibration is not None and calibrated.calibration.nodes == 2
    assert calibrated.capacity.messages_per_s_per_pod == result.plan.capacity.messages_per_s_per_pod
    assert calibrated.calibration.call_minutes_per_active_user_hour == pytest.approx(
        server["call_seconds"] / 60 / summary["active_user_hours"], abs=1e-3
    )
    judged = [lv for lv in result.measurement.levels if lv.verdict != "insufficient" and lv.delivery_p95_ms]
    sim = next(c for c in result.checks if c.name == "simulator within the bar")
    if len(judged) == 2:  # the lower level calibrates the latency outside the queues, the other is predicted
        assert [row["role"] for row in result.comparison] == ["base", "predicted"]
        assert result.comparison[1]["predicted_p95_ms"] > 0
    else:  # a busy machine left a level short of samples: nothing to compare, and the check says so
        assert result.comparison == [] and not sim.passed and "no predicted level" in sim.detail
    assert calibrated.capacity.requests_per_message > 0  # the smoke mix reads and calls besides sending
    report = calibrated_path.with_suffix(".md").read_text()
    assert "Measured load levels" in report and "What changed in the plan" in report
    assert calibrated_path.with_suffix(".levels.png").stat().st_size > 0


def test_workers_sign_up_distinct_users(tmp_path: Path) -> None:
    """Two Locust workers: each its own phone range and seed, so every user signs up (no 401s)."""
    plan = smoke_plan(tmp_path)
    summary = run_loadtest(
        tmp_path / "run", plan=str(plan), levels=[8], spawn_rate=8, duration_s=6, workers=2, quiet=True
    )
    verify = next(r for r in summary["per_request"] if r["name"] == "auth:verify")
    assert summary["workers"] == 2 and summary["users"] == 8
    assert verify["requests"] == 8 and verify["failures"] == 0, verify
