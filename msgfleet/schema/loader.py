"""Load a plan from YAML with errors that name the file, the line and the field.

PyYAML's composed node tree keeps each value's position; we keep a map from the value's path
(``("sites", 0, "state")``) to its line so that a pydantic error's ``loc`` points into the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from msgfleet.errors import MsgfleetError
from msgfleet.schema.plan import Plan

PathKey = tuple[str | int, ...]


class PlanError(MsgfleetError, ValueError):
    """A plan that cannot be used; ``str()`` is one line: ``file:line: field: what is wrong``."""

    def __init__(self, file: str, line: int | None, field: str, problem: str) -> None:
        self.file, self.line, self.field, self.problem = file, line, field, problem
        where = f"{file}:{line}" if line else file
        super().__init__(f"{where}: {field}: {problem}" if field else f"{where}: {problem}")


def _line_map(node: yaml.Node, path: PathKey = (), lines: dict[PathKey, int] | None = None) -> dict:
    lines = {} if lines is None else lines
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = (*path, key_node.value)
            _line_map(value_node, key, lines)
            lines[key] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _line_map(item, (*path, index), lines)
    return lines


def _line_of(loc: PathKey, lines: dict[PathKey, int]) -> int | None:
    for end in range(len(loc), -1, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return None


def parse_plan(text: str, file: str = "<plan>") -> Plan:
    """Validate YAML text into a :class:`Plan`; raise :class:`PlanError` on the first problem."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        raise PlanError(file, mark.line + 1 if mark else None, "", f"not valid YAML: {exc.problem}") from None
    if not isinstance(data, dict) or node is None:
        raise PlanError(file, 1, "", "a plan is a YAML mapping (name:, country:, sites:, ...)")
    try:
        return Plan.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        loc = tuple(error["loc"])
        field = ".".join(str(part) for part in loc)
        message = error["msg"].removeprefix("Value error, ")
        raise PlanError(file, _line_of(loc, _line_map(node)), field, message) from None


def load_plan(path: str | Path) -> Plan:
    """Read and validate a plan file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PlanError(str(path), None, "", f"cannot read plan: {exc.strerror}") from None
    return parse_plan(text, str(path))


def dump_plan(plan: Plan, path: str | Path, header: str = "") -> None:
    """Write ``plan`` as YAML (e.g. a calibrated plan); ``header`` becomes leading comments."""
    data: Any = plan.model_dump(mode="json", exclude_none=True)
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    comments = "".join(f"# {line}\n" for line in header.splitlines())
    Path(path).write_text(comments + text, encoding="utf-8")
