"""Knee finding against a real node throttled to a known capacity (tests/loadtests/throttle)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from loadtests.fleet import Fleet
from loadtests.run import LOADTEST_NODE_ENV, run_loadtest

ROOT = Path(__file__).resolve().parents[2]
THROTTLE_MS = 200.0  # the node stores at most 1000 / 200 = 5 messages/s, well below its own speed
CAPACITY = 1000 / THROTTLE_MS
SLO_MS = 1500  # a few service times: queueing behind the throttle breaks it


def knee_plan(tmp_path: Path) -> Path:
    data = yaml.safe_load((ROOT / "rollout_plans" / "dev-3-states.yaml").read_text())
    data["slo"] = {"delivery_p95_ms": SLO_MS, "error_rate": 0.01}
    data["loadtest"] = {
        "weights": {"private_send": 1},
        "think_time_s": [0.05, 0.1],
        "knee": {
            "start_users": 2, "step_users": 4, "resolution_users": 2, "max_users": 40,
            "spawn_rate": 20, "warmup_s": 2, "measure_s": 4, "max_steps": 6,
        },
    }  # fmt: skip
    path = tmp_path / "knee.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_knee_is_found_below_the_throttled_capacity(tmp_path: Path) -> None:
    env = {
        **LOADTEST_NODE_ENV,
        "MSGFLEET_TEST_THROTTLE_MS": str(THROTTLE_MS),
        "PYTHONPATH": os.pathsep.join(
            [str(Path(__file__).parent / "throttle"), os.environ.get("PYTHONPATH", "")]
        ),
    }
    with Fleet(["RU-MOW"], tmp_path / "fleet", env=env) as fleet:
        summary = run_loadtest(
            tmp_path / "run", plan=str(knee_plan(tmp_path)), targets=fleet.urls, find_knee=True, quiet=True
        )
    knee = summary["knee"]
    assert knee["converged"], knee
    assert knee["lowest_failing_users"] is not None, "the throttle never broke the SLO"
    assert knee["supported_users"] < knee["lowest_failing_users"]
    # the throttle holds even when overloaded, so no step can carry more than the capacity
    assert all(step["messages_per_s"] <= CAPACITY * 1.05 for step in knee["steps"]), knee["steps"]
    # and the knee sits at a sizeable share of it, not at a trivially low load
    assert knee["messages_per_s_at_slo"] >= 0.3 * CAPACITY, knee
    assert knee["delivery_p95_ms_at_slo"] <= SLO_MS


@pytest.fixture(autouse=True)
def _no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MSGFLEET_LOADTEST_CONFIG", raising=False)
