"""The local fleet launcher starts real nodes, records them, and stops them."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import psutil
import pytest

from loadtests.cli import parse_duration
from loadtests.errors import LoadTestError
from loadtests.fleet import Fleet, read_fleet_file
from loadtests.plan import phase_states

ROOT = Path(__file__).resolve().parents[2]
PLAN = ROOT / "rollout_plans" / "dev-3-states.yaml"


def test_fleet_starts_ready_nodes_and_stops_them(fleet: Fleet) -> None:
    assert [n.state for n in fleet.nodes] == ["RU-MOW", "RU-SPE"]
    for node in fleet.nodes:
        ready = httpx.get(f"{node.url}/readyz", timeout=5)
        assert ready.status_code == 200
        assert ready.json()["state"] == node.state
    record = json.loads((fleet.data_dir / "fleet.json").read_text())
    assert record["urls"] == fleet.urls
    assert set(record["pids"]) == {"RU-MOW", "RU-SPE"}
    peers = json.loads((fleet.data_dir / "peers.json").read_text())
    assert [(p["state"], p["url"]) for p in peers] == list(fleet.urls.items())
    assert all(len(base64.b64decode(p["public_key"])) == 32 for p in peers)
    pids = [n.pid for n in fleet.nodes]
    fleet.stop()
    assert not any(psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie" for pid in pids)
    assert not (fleet.data_dir / "fleet.json").exists()


def test_cli_up_background_then_down(tmp_path: Path) -> None:
    env = {**os.environ, "COLUMNS": "200"}
    data = tmp_path / "fleet"
    up = subprocess.run(
        [sys.executable, "-m", "msgfleet.cli", "fleet", "up", "--plan", str(PLAN), "--phase", "1",
         "--data-dir", str(data), "--background"],
        capture_output=True, text=True, timeout=120, cwd=ROOT, env=env,
    )  # fmt: skip
    assert up.returncode == 0, up.stderr
    nodes = read_fleet_file(data)
    try:
        assert [n.state for n in nodes] == ["RU-MOW", "RU-SPE"]
        for node in nodes:
            assert node.url in up.stdout and str(node.pid) in up.stdout
            assert httpx.get(f"{node.url}/readyz", timeout=5).status_code == 200
    finally:
        down = subprocess.run(
            [sys.executable, "-m", "msgfleet.cli", "fleet", "down", "--data-dir", str(data)],
            capture_output=True, text=True, timeout=60, cwd=ROOT, env=env,
        )  # fmt: skip
    assert down.returncode == 0, down.stderr
    assert "stopped 2 node(s)" in down.stdout
    for node in nodes:
        assert not psutil.pid_exists(node.pid) or psutil.Process(node.pid).status() == "zombie"


def test_cli_errors_are_one_line(tmp_path: Path) -> None:
    bad = subprocess.run(
        [sys.executable, "-m", "msgfleet.cli", "fleet", "down", "--data-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )  # fmt: skip
    assert bad.returncode == 2
    assert bad.stderr.count("\n") == 1 and "fleet.json" in bad.stderr


def test_a_phase_the_plan_does_not_have_is_named() -> None:
    with pytest.raises(LoadTestError, match=r"--phase 9: plan 'dev-3-states' has phases 1\.\.2"):
        phase_states(PLAN, 9)
    assert phase_states(PLAN, 1) == ["RU-MOW", "RU-SPE"]
    assert phase_states(PLAN, 2) == ["RU-MOW", "RU-SPE", "RU-NVS"]  # a phase keeps earlier phases' states


def test_a_node_that_cannot_start_is_named(tmp_path: Path) -> None:
    fleet = Fleet(["RU-MOW"], tmp_path, extra_args=["--workers", "2"])  # workers > 1 needs PostgreSQL
    try:
        fleet.start()
    except Exception as exc:
        assert "RU-MOW" in str(exc) and "exited" in str(exc)
    else:
        fleet.stop()
        raise AssertionError("a node that cannot start was reported ready")


def test_loadtest_needs_a_plan_or_targets(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "msgfleet.cli", "loadtest", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert "give --plan" in done.stderr


def test_durations() -> None:
    assert [parse_duration(t) for t in ("90", "90s", "2m", "1h")] == [90, 90, 120, 3600]
    for bad in ("1x", "-5s", "s"):
        with pytest.raises(LoadTestError, match="--duration"):
            parse_duration(bad)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "msgfleet.cli", "fleet", *args],
        capture_output=True, text=True, timeout=120, cwd=ROOT, env=env,
    )  # fmt: skip


def _gone(pid: int) -> bool:
    return not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie"


def test_fleet_restart_brings_a_killed_node_back_and_down_stops_it(tmp_path: Path) -> None:
    data = tmp_path / "fleet"
    up = _cli("up", "--plan", str(PLAN), "--phase", "1", "--data-dir", str(data), "--background")
    assert up.returncode == 0, up.stderr
    try:
        before = {n.state: n for n in read_fleet_file(data)}
        killed = before["RU-SPE"]
        os.killpg(killed.pid, 9)  # the node dies as a crashed node does
        with contextlib.suppress(psutil.NoSuchProcess):
            psutil.Process(killed.pid).wait(timeout=30)
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{killed.url}/readyz", timeout=2)

        restarted = _cli("restart", "RU-SPE", "--data-dir", str(data))
        assert restarted.returncode == 0, restarted.stderr
        after = {n.state: n for n in read_fleet_file(data)}
        assert after["RU-SPE"].pid != killed.pid and str(after["RU-SPE"].pid) in restarted.stdout
        assert after["RU-SPE"].url == killed.url and after["RU-MOW"] == before["RU-MOW"]
        ready = httpx.get(f"{killed.url}/readyz", timeout=5)
        assert ready.status_code == 200 and ready.json()["state"] == "RU-SPE"

        unknown = _cli("restart", "RU-XXX", "--data-dir", str(data))
        assert unknown.returncode == 2 and "RU-XXX" in unknown.stderr and unknown.stderr.count("\n") == 1
    finally:
        down = _cli("down", "--data-dir", str(data))
    assert down.returncode == 0, down.stderr
    assert all(_gone(n.pid) for n in after.values()), "fleet down left the restarted node running"
