"""Imports go one way: msgfleet's core ← sim, loadtests, infra, charts; messenger imports none of them.

``msgfleet.cli``, ``msgfleet.demo`` and ``msgfleet.calibration`` are the composition root and may
import every package. Checked on the source (ast), so a lazy import inside a function counts too.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("messenger", "msgfleet", "sim", "loadtests", "infra", "charts", "tests")
COMPOSITION_ROOT = {"msgfleet.cli", "msgfleet.demo", "msgfleet.calibration"}
CORE = {"msgfleet"}  # msgfleet's schema, errors and sizing modules
ALLOWED = {
    "messenger": {"messenger"},
    "msgfleet": CORE,
    "sim": CORE | {"sim"},
    "loadtests": CORE | {"loadtests"},
    "infra": CORE | {"infra"},
    "charts": CORE | {"charts"},
}


def _modules() -> list[tuple[str, Path]]:
    found = []
    for package in ALLOWED:
        for path in sorted((ROOT / package).rglob("*.py")):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            found.append((name, path))
    return found


def _imported_packages(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return {name for name in names if name.split(".")[0] in PACKAGES}


def _violations(module: str, imported: set[str]) -> list[str]:
    if module in COMPOSITION_ROOT:
        return sorted(name for name in imported if name.split(".")[0] == "tests")
    allowed = ALLOWED[module.split(".")[0]]
    bad = []
    for name in sorted(imported):
        top = name.split(".")[0]
        if top not in allowed or name in COMPOSITION_ROOT or name.startswith("msgfleet.cli"):
            bad.append(name)
    return bad


@pytest.mark.parametrize(("module", "path"), _modules(), ids=[m for m, _ in _modules()])
def test_imports_go_one_way(module: str, path: Path) -> None:
    bad = _violations(module, _imported_packages(path))
    assert not bad, f"{path.relative_to(ROOT)} ({module}) imports {bad}, against the import direction"


def test_the_rule_catches_a_backwards_import() -> None:
    assert _violations("messenger.app", {"msgfleet.schema"}) == ["msgfleet.schema"]
    assert _violations("sim.rollout", {"loadtests.fleet", "msgfleet.schema"}) == ["loadtests.fleet"]
    assert _violations("infra.render", {"msgfleet.demo"}) == ["msgfleet.demo"]
    assert _violations("msgfleet.demo", {"sim.rollout", "infra.render"}) == []
