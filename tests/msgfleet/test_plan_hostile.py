"""Hostile plan files are refused with one line naming the file and line, quickly and without a traceback."""

from __future__ import annotations

import resource
from pathlib import Path

import pytest

from msgfleet.schema import PlanError, load_plan
from msgfleet.schema.loader import MAX_ALIASES, MAX_DEPTH

MINIMAL = """\
name: t
country: RU
sites:
  - state: RU-MOW
phases:
  - name: one
    start_day: 0
    sites: [RU-MOW]
"""


def _bomb(levels: int) -> str:
    """The billion-laughs shape: each level is a list of ten aliases of the level before."""
    lines = ['a0: &a0 ["lol"]']
    for k in range(1, levels + 1):
        refs = ", ".join([f"*a{k - 1}"] * 10)
        lines.append(f"a{k}: &a{k} [{refs}]")
    return "\n".join(lines) + "\n" + MINIMAL


HOSTILE: dict[str, tuple[bytes, int | None, str]] = {
    "control_character": (
        (MINIMAL.replace("name: t", "name: t\x07x")).encode(),
        1,
        "control character U+0007",
    ),
    "binary_junk": (MINIMAL.encode() + b"\xff\xfe\x00\x81junk", 9, "not UTF-8"),
    "utf16": (MINIMAL.encode("utf-16"), 1, "UTF-16"),
    "deep_nesting": (
        ("x: " + "[" * 5000 + "]" * 5000 + "\n" + MINIMAL).encode(),
        1,
        f"deeper than {MAX_DEPTH}",
    ),
    "alias_bomb": (_bomb(9).encode(), None, "aliases"),
    "many_aliases": (
        ("a: &a 1\nb: [" + ", ".join(["*a"] * (MAX_ALIASES + 1)) + "]\n" + MINIMAL).encode(),
        2,
        f"more than {MAX_ALIASES} YAML aliases",
    ),
    "duplicate_key": ((MINIMAL + "name: u\n").encode(), 9, "duplicate key 'name' (first on line 1)"),
    "infinite_cost": (
        MINIMAL.replace(
            "  - state: RU-MOW\n", "  - state: RU-MOW\n    fixed_cost_per_month: .inf\n", 1
        ).encode(),
        5,
        "finite number",
    ),
    "nan_target": ((MINIMAL + "target_coverage: .nan\n").encode(), 9, "finite number"),
    "absurd_horizon": (
        (MINIMAL + "horizon_days: 100000000000000000000\n").encode(),
        9,
        "less than or equal to 18263",
    ),
    "phase_after_horizon": (
        MINIMAL.replace("start_day: 0", "start_day: 30").encode() + b"horizon_days: 10\n",
        None,
        "after horizon_days",
    ),
    "not_a_mapping": (b"- just\n- a list\n", 1, "a plan is a YAML mapping"),
    "no_recovery_horizon": (
        (MINIMAL + "economics:\n  recovery_years: 0\n").encode(),
        10,
        "economics.recovery_years: Input should be greater than 0",
    ),
    "recovery_beyond_any_horizon": (
        (MINIMAL + "economics:\n  recovery_years: 80\n").encode(),
        10,
        "economics.recovery_years: Input should be less than or equal to 50",
    ),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_plan_is_one_line_with_file_and_line(name: str, tmp_path: Path) -> None:
    content, line, words = HOSTILE[name]
    path = tmp_path / f"{name}.yaml"
    path.write_bytes(content)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(PlanError) as info:
        load_plan(path)
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    message = str(info.value)
    assert "\n" not in message
    assert words in message, message
    assert message.startswith(str(path)), message
    if line is not None:
        assert info.value.line == line, message
        assert message.startswith(f"{path}:{line}: "), message
    assert grown_mib < 200, f"refusing {name} grew the process by {grown_mib:.0f} MiB"


def test_a_few_aliases_still_load(tmp_path: Path) -> None:
    text = MINIMAL.replace("  - state: RU-MOW\n", "  - &site {state: RU-MOW}\n") + "links: []\n"
    path = tmp_path / "ok.yaml"
    path.write_text(text, encoding="utf-8")
    assert load_plan(path).sites[0].state == "RU-MOW"


def test_utf8_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bom.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + MINIMAL.encode())
    assert load_plan(path).name == "t"
