"""``msgfleet calibrate`` writes a plan only when its checks pass (or with --force), on a recorded run."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from msgfleet.calibration import CalibrationRefused, calibrate
from msgfleet.schema import load_plan

ROOT = Path(__file__).resolve().parents[2]
RUN = ROOT / "tests" / "data" / "locust" / "levels-4"


@pytest.fixture
def plan(tmp_path: Path) -> Path:
    """The recorded run's plan with an SLO its judged steps met (the run was on a contended machine)."""
    data = yaml.safe_load((RUN / "plan.yaml").read_text())
    data["slo"] = {"delivery_p95_ms": 1000, "error_rate": 0.01}
    data["latency"] = {"replications": 2, "duration_s": 20.0, "warmup_s": 5.0}
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture
def unmetered(tmp_path: Path) -> Path:
    """The recorded run as if the nodes had metered no call second although calls were placed."""
    run = tmp_path / "run"
    run.mkdir()
    for name in ("steps.csv", "locust_stats_history.csv"):
        shutil.copy(RUN / name, run / name)
    summary = json.loads((RUN / "summary.json").read_text())
    summary["server"]["total"]["call_seconds"] = 0.0
    (run / "summary.json").write_text(json.dumps(summary))
    return run


def test_a_failing_check_writes_the_report_but_not_the_plan(
    tmp_path: Path, plan: Path, unmetered: Path
) -> None:
    out = tmp_path / "calibrated.yaml"
    out.write_text("stale: an older run's plan\n")
    with pytest.raises(CalibrationRefused, match="minutes > 0 when calls were made") as refused:
        calibrate(unmetered, plan, out)
    assert "calls placed, 0 call seconds metered" in str(refused.value)
    assert not out.exists(), "a refused calibration left a plan that passes for this run's"
    report = out.with_suffix(".md").read_text()
    assert (
        "**The plan was not written**" in report
        and "| minutes > 0 when calls were made | **FAIL** |" in report
    )

    forced = calibrate(unmetered, plan, out, force=True)
    assert forced.written and "minutes > 0 when calls were made" in [c.name for c in forced.failed]
    assert "Written with --force despite: minutes > 0 when calls were made" in out.read_text()
    assert load_plan(out).capacity.messages_per_s_per_pod == forced.plan.capacity.messages_per_s_per_pod


def test_the_cli_names_the_failed_check_in_one_line(tmp_path: Path, plan: Path, unmetered: Path) -> None:
    out = tmp_path / "cli.yaml"
    args = ["calibrate", str(unmetered), "--plan", str(plan), "--out", str(out)]
    done = subprocess.run(
        [sys.executable, "-m", "msgfleet.cli", *args], capture_output=True, text=True, timeout=300, cwd=ROOT
    )
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert "minutes > 0 when calls were made" in done.stderr and "--force" in done.stderr
    assert not out.exists()


def test_the_report_says_where_each_figure_came_from(tmp_path: Path, plan: Path) -> None:
    out = tmp_path / "calibrated.yaml"
    try:
        result = calibrate(RUN, plan, out)
    except CalibrationRefused:
        result = calibrate(RUN, plan, out, force=True)  # the simulator check may fail on this contended run
    assert [c.name for c in result.checks] == [
        "enough samples",
        "a step within the SLO",
        "capacity consistent with CPU",
        "minutes > 0 when calls were made",
        "simulator within the bar",
    ]
    assert [c.name for c in result.failed] in ([], ["simulator within the bar"])
    report = out.with_suffix(".md").read_text()
    for source in (
        "node CPU from /proc",
        "msgfleet_replies_stored_total",
        "msgfleet_call_seconds_total",
        "Locust",
    ):
        assert source in report
    assert "Bottleneck: the SLO held at every judged step" in report  # 1000 ms held where judged
