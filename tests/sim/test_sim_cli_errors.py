"""Every refused `msgfleet sim ...` flag is one line on stderr naming the flag, exit 2, no traceback."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from msgfleet.cli import main

DEV = str(Path(__file__).resolve().parents[2] / "rollout_plans" / "dev-3-states.yaml")

CASES = {
    "target": (["plan", "--target", "1.5"], "--target 1.5"),
    "residency": (["plan", "--residency", "foo"], "--residency 'foo'"),
    "candidates": (["plan", "--candidates", "RU-XYZ"], "--candidates: RU-XYZ"),
    "candidates_other_country": (["plan", "--candidates", "RU-MOW,US-CA"], "--candidates: US-CA"),
    "country": (["plan", "--country", "XX"], "--country 'XX'"),
    "country_without_table": (["plan", "--country", "FR"], "no official population table for FR"),
    "bad_population_csv": (
        ["plan", "--country", "FR", "--population", "nowhere.csv"],
        "nowhere.csv: cannot read",
    ),
    "max_rtt": (["plan", "--max-rtt-ms", "-3"], "--max-rtt-ms -3"),
    "phase_days": (["plan", "--phase-days", "4000"], "--phases 3 --phase-days 4000"),
    "rollout_phase": (["rollout", "--plan", DEV, "--phase", "9", "--sized-plan", "s.yaml"], "--phase 9"),
    "latency_phase": (["latency", "--plan", DEV, "--phase", "0"], "--phase 0"),
    "latency_load": (["latency", "--plan", DEV, "--load", "-5"], "--load -5"),
    "latency_load_nan": (["latency", "--plan", DEV, "--load", "nan"], "--load nan"),
    "sweep_loads": (["sweep", "--plan", DEV, "--loads", "1,x"], "--loads '1,x'"),
    "sweep_empty": (["sweep", "--plan", DEV, "--loads", ","], "--loads ','"),
    "sweep_negative": (["sweep", "--plan", DEV, "--loads", "10,-4"], "--loads -4"),
    "scheduler": (
        ["latency", "--plan", DEV, "--scheduler", "bogus", "--replications", "2"],
        "--scheduler 'bogus'",
    ),
    "fail_link": (["rollout", "--plan", DEV, "--fail-link", "RU-MOW"], "--fail-link 'RU-MOW'"),
    "missing_plan": (["rollout", "--plan", "nowhere.yaml"], "nowhere.yaml: cannot read plan"),
    "utf16_plan": (["rollout", "--plan", "utf16.yaml"], "utf16.yaml:1: encoded as UTF-16"),
    "alias_bomb_plan": (["latency", "--plan", "bomb.yaml"], "bomb.yaml:6: expands to more than"),
}

BOMB = "\n".join(
    ['a0: &a0 ["lol"]'] + [f"a{k}: &a{k} [" + ", ".join([f"*a{k - 1}"] * 10) + "]" for k in range(1, 9)]
)


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_flag_is_one_line(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    args, words = CASES[name]
    monkeypatch.chdir(tmp_path)
    Path("utf16.yaml").write_bytes(Path(DEV).read_text(encoding="utf-8").encode("utf-16"))
    Path("bomb.yaml").write_text(BOMB + "\n" + Path(DEV).read_text(encoding="utf-8"), encoding="utf-8")
    if "--out" not in args:
        args = [*args, "--out", str(tmp_path / "out")]
    monkeypatch.setattr(sys, "argv", ["msgfleet", "sim", *args])
    with pytest.raises(SystemExit) as info:
        main()
    assert info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith(f"msgfleet: {words}"), err[0]
