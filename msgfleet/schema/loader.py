"""Load a plan from YAML with errors that name the file, the line and the field.

PyYAML's composed node tree keeps each value's position; we keep a map from the value's path
(``("sites", 0, "state")``) to its line so that a pydantic error's ``loc`` points into the file.

A plan file is untrusted input, so the loader refuses, each with one line, before anything big is
built: files over :data:`MAX_BYTES`; text that is not UTF-8 (UTF-16/32 byte-order marks included)
or holds control characters; nesting deeper than :data:`MAX_DEPTH` (PyYAML's composer recurses,
so a 5,000-deep file would end in ``RecursionError``); more than :data:`MAX_ALIASES` aliases or a
document whose aliases would expand to more than :data:`MAX_NODES` nodes (an alias bomb is cheap
to compose because aliases share nodes; it explodes only when expanded, which we never do before
counting); and duplicate mapping keys (YAML 1.2 forbids them; PyYAML silently keeps the last).
Non-finite numbers are refused by the models (``allow_inf_nan=False``).
"""

from __future__ import annotations

import codecs
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from msgfleet.errors import MsgfleetError
from msgfleet.schema.plan import Plan

PathKey = tuple[str | int, ...]

MAX_BYTES = 1 << 20
MAX_DEPTH = 20
MAX_ALIASES = 100
MAX_NODES = 200_000
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufeff]")
_BOMS = {
    codecs.BOM_UTF32_LE: "UTF-32",
    codecs.BOM_UTF32_BE: "UTF-32",
    codecs.BOM_UTF16_LE: "UTF-16",
    codecs.BOM_UTF16_BE: "UTF-16",
}


class PlanError(MsgfleetError, ValueError):
    """A plan that cannot be used; ``str()`` is one line: ``file:line: field: what is wrong``."""

    def __init__(self, file: str, line: int | None, field: str, problem: str) -> None:
        self.file, self.line, self.field, self.problem = file, line, field, problem
        where = f"{file}:{line}" if line else file
        super().__init__(f"{where}: {field}: {problem}" if field else f"{where}: {problem}")


class _Bounded(Exception):
    """Raised inside the composer; carries the line and the problem to :func:`parse_plan`."""

    def __init__(self, line: int, problem: str) -> None:
        super().__init__(problem)
        self.line, self.problem = line, problem


class _BoundedLoader(yaml.SafeLoader):
    """A SafeLoader whose composer counts depth and aliases as it goes (cheap, before expansion)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._aliases = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        event = self.peek_event()
        line = event.start_mark.line + 1
        if isinstance(event, yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise _Bounded(line, f"more than {MAX_ALIASES} YAML aliases (*name); write the values out")
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise _Bounded(line, f"nested deeper than {MAX_DEPTH} levels")
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _check_tree(node: yaml.Node) -> None:
    """Refuse duplicate keys and a tree that would expand past :data:`MAX_NODES` nodes.

    Sizes are memoised per node object, so shared (aliased) subtrees are counted without being
    walked again: linear in the composed nodes, whatever the expansion would be.
    """
    sizes: dict[int, int] = {}

    def size(n: yaml.Node) -> int:
        known = sizes.get(id(n))
        if known is not None:
            return known
        total = 1
        if isinstance(n, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for key, value in n.value:
                if isinstance(key, yaml.ScalarNode):
                    line = key.start_mark.line + 1
                    if key.value in seen:
                        raise _Bounded(line, f"duplicate key {key.value!r} (first on line {seen[key.value]})")
                    seen[key.value] = line
                total += size(key) + size(value)
        elif isinstance(n, yaml.SequenceNode):
            total += sum(size(item) for item in n.value)
        if total > MAX_NODES:
            raise _Bounded(n.start_mark.line + 1, f"expands to more than {MAX_NODES:,} values (aliases?)")
        sizes[id(n)] = total
        return total

    size(node)


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


def _check_text(text: str, file: str) -> None:
    if len(text) > MAX_BYTES:
        raise PlanError(file, None, "", f"larger than {MAX_BYTES:,} characters; a plan is a few KB")
    bad = _CONTROL.search(text)
    if bad:
        line = text.count("\n", 0, bad.start()) + 1
        raise PlanError(file, line, "", f"control character U+{ord(bad.group()):04X} in the text")


def _compose(text: str, file: str) -> tuple[yaml.Node | None, Any]:
    loader = _BoundedLoader(text)
    try:
        node = loader.get_single_node()
        if node is not None:
            _check_tree(node)
        data = loader.construct_document(node) if node is not None else None
    except _Bounded as exc:
        raise PlanError(file, exc.line, "", exc.problem) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        raise PlanError(file, mark.line + 1 if mark else None, "", f"not valid YAML: {exc.problem}") from None
    except yaml.YAMLError as exc:  # e.g. ReaderError, which carries no mark
        raise PlanError(file, None, "", f"not valid YAML: {str(exc).splitlines()[0]}") from None
    finally:
        loader.dispose()
    return node, data


def validation_error(exc: ValidationError, file: str, lines: dict[PathKey, int] | None = None) -> PlanError:
    """The first error of a pydantic validation as a :class:`PlanError` (line from ``lines``)."""
    error = exc.errors()[0]
    loc = tuple(error["loc"])
    field = ".".join(str(part) for part in loc)
    message = error["msg"].removeprefix("Value error, ")
    return PlanError(file, _line_of(loc, lines) if lines else None, field, message)


def parse_plan(text: str, file: str = "<plan>") -> Plan:
    """Validate YAML text into a :class:`Plan`; raise :class:`PlanError` on the first problem."""
    _check_text(text, file)
    node, data = _compose(text, file)
    if not isinstance(data, dict) or node is None:
        raise PlanError(file, 1, "", "a plan is a YAML mapping (name:, country:, sites:, ...)")
    try:
        return Plan.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc, file, _line_map(node)) from None


def _decode(raw: bytes, file: str) -> str:
    for bom, name in _BOMS.items():
        if raw.startswith(bom):
            raise PlanError(file, 1, "", f"encoded as {name}; save the plan as UTF-8")
    try:
        return raw.removeprefix(codecs.BOM_UTF8).decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise PlanError(
            file, line, "", f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start})"
        ) from None


def load_plan(path: str | Path) -> Plan:
    """Read and validate a plan file."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        raise PlanError(str(path), None, "", f"cannot read plan: {exc.strerror}") from None
    if len(raw) > MAX_BYTES:
        raise PlanError(str(path), None, "", f"larger than {MAX_BYTES:,} bytes; a plan is a few KB")
    return parse_plan(_decode(raw, str(path)), str(path))


def dump_plan(plan: Plan, path: str | Path, header: str = "") -> None:
    """Write ``plan`` as YAML (e.g. a calibrated plan); ``header`` becomes leading comments."""
    data: Any = plan.model_dump(mode="json", exclude_none=True)
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    comments = "".join(f"# {line}\n" for line in header.splitlines())
    Path(path).write_text(comments + text, encoding="utf-8")
