"""Overloads are loud: capped pods, sites over capacity and missed SLOs are warnings naming the sites,
summary.json carries the flags, and ``--strict`` turns warnings into a non-zero exit."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from msgfleet.cli import main
from msgfleet.schema import Plan, dump_plan, load_plan
from sim.latency import run_latency, sweep_loads, sweep_warnings
from sim.rollout import run_rollout, write_rollout

DEV = Path(__file__).resolve().parents[2] / "rollout_plans" / "dev-3-states.yaml"


def _overloaded(max_pods: int = 10) -> Plan:
    plan = load_plan(DEV)
    return Plan.model_validate(
        plan.model_dump()
        | {
            "capacity": plan.capacity.model_dump() | {"max_pods": max_pods},
            "latency": {"sample_fraction": 0.001, "duration_s": 4.0, "warmup_s": 1.0, "replications": 2},
        }
    )


def test_rollout_names_capped_and_overloaded_sites(tmp_path: Path) -> None:
    plan = _overloaded()
    result = run_rollout(plan)
    rate = plan.capacity.messages_per_s_per_pod
    over = [z for z in result.sizings if z.over_capacity]
    assert over, "the shrunken plan must overload a site"
    for z in result.sizings:
        assert z.utilisation == pytest.approx(z.busy_hour_msgs_per_s / (z.pods * rate))
        assert z.over_capacity == (z.utilisation > 1)
        assert z.capped == (z.needed_pods > plan.capacity.max_pods)
    warnings = result.warnings()
    for z in over:
        assert any(z.state in w and f"phase {z.phase} " in w and "over capacity" in w for w in warnings), z
    summary = json.loads((write_rollout(result, tmp_path) / "summary.json").read_text())
    assert summary["warnings"] == warnings
    flagged = {(p["index"], s) for p in summary["phases"] for s in p["over_capacity_sites"]}
    assert flagged == {(z.phase, z.state) for z in over}


@pytest.mark.parametrize("name", ["ru-national", "us-national"])
def test_shipped_national_plans_have_no_warnings(name: str) -> None:
    assert run_rollout(load_plan(DEV.with_name(f"{name}.yaml"))).warnings() == []


def test_relay_port_range_defaults_to_coturns_and_warns_when_it_binds() -> None:
    plan = load_plan(DEV)  # turn_exposure load_balancer: the Service lists every port
    assert plan.infra.turn_relay_ports == (49152, 49252)
    host = Plan.model_validate(plan.model_dump() | {"infra": {"turn_exposure": "host_network"}})
    assert host.infra.turn_relay_ports == (49152, 65535)  # coturn's min-port / max-port
    (warning,) = run_rollout(plan).warnings()
    assert warning.startswith("relay ports 49152-49252 (load_balancer) cap each TURN relay at 101 channels")
    assert "RU-MOW" in warning
    assert run_rollout(host).warnings() == []


def test_latency_warns_of_missed_slo_with_the_overloaded_sites() -> None:
    run = run_latency(_overloaded(), [2], workers=1)
    summary = run.summary()
    phase = summary["phases"][0]
    assert not phase["slo_met"]
    assert phase["over_capacity_sites"]
    for site in phase["over_capacity_sites"]:
        assert phase["sites"][site]["utilisation"] > 1  # demand / capacity, not the busy share (<= 1)
        assert phase["sites"][site]["busy_share"] < phase["sites"][site]["utilisation"]
    missed = [w for w in run.warnings() if "misses" in w]
    assert len(missed) == 1 and all(s in missed[0] for s in phase["over_capacity_sites"])


def test_sweep_warns_when_the_load_exceeds_capacity() -> None:
    plan = _overloaded(max_pods=4)
    table = sweep_loads(plan, [50.0, 50_000.0], replications=2, workers=1)
    low, high = table.itertuples(index=False)
    assert low.max_utilisation < 1 and not low.over_capacity_sites
    assert high.max_utilisation > 1 and high.capped_sites
    warnings = sweep_warnings(table)
    assert len(warnings) == 1 and warnings[0].startswith("50,000 msg/s")


@pytest.mark.parametrize("strict", [False, True])
def test_strict_turns_warnings_into_a_failure(
    strict: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    plan_file = tmp_path / "overloaded.yaml"
    dump_plan(_overloaded(), plan_file)
    args = ["msgfleet", "sim", "rollout", "--plan", str(plan_file), "--out", str(tmp_path / "out")]
    monkeypatch.setattr(sys, "argv", [*args, "--strict"] if strict else args)
    if strict:
        with pytest.raises(SystemExit) as info:
            main()
        assert info.value.code == 2
    else:
        with pytest.raises(SystemExit) as info:
            main()
        assert info.value.code == 0
    err = capsys.readouterr().err.splitlines()
    assert any(line.startswith("warning: ") and "over capacity" in line for line in err)
    assert (err[-1].startswith("msgfleet: --strict:")) == strict
