"""No import circle through the settings: ``messenger.settings`` validates ``MSGFLEET_TARIFFS`` with
``messenger.billing.tariffs``, so nothing the settings import may lead back to the node (issue 17)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def _messenger_imports(module: str) -> set[str]:
    """Every ``messenger.*`` module that ``module``'s source imports (lazy and TYPE_CHECKING ones too)."""
    path = ROOT / Path(*module.split(".")).with_suffix(".py")
    if not path.exists():
        path = ROOT / Path(*module.split(".")) / "__init__.py"
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
    return {name for name in names if name.split(".")[0] == "messenger"}


def _closure(module: str) -> set[str]:
    seen, todo = set(), [module]
    while todo:
        current = todo.pop()
        if current not in seen:
            seen.add(current)
            todo += sorted(_messenger_imports(current))
    return seen - {module}


def test_settings_reach_neither_node_nor_themselves() -> None:
    reached = _closure("messenger.settings")
    assert "messenger.billing.tariffs" in reached  # the validator this test is about
    assert "messenger.node" not in reached and "messenger.settings" not in reached, sorted(reached)


def test_tariffs_import_nothing_of_the_node() -> None:
    assert _messenger_imports("messenger.billing.tariffs") == set()
