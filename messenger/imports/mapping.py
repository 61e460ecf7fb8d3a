"""Author mapping files for WhatsApp imports: each export author name → an E.164 phone number.

WhatsApp exports name authors as the exporting phone's address book shows them, which the node never
sees; the user supplies the numbers, and contact discovery (``runner.discover``) turns those that are
registered into users. Two formats, by extension:

``.csv`` — ``name,phone`` rows (a header row ``name,phone`` is allowed)::

    name,phone
    Bob,+79991234567

anything else — a YAML mapping::

    Bob: "+79991234567"
    Carol Smith: +7 999 765-43-21

Numbers may be written with spaces, dashes and brackets; they must be valid international numbers
(``phonenumbers``). A bad line raises ``MappingError`` naming the file and the line.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import phonenumbers
import yaml


class MappingError(ValueError):
    """The mapping file cannot be used; the message names the file and the line."""


def e164(text: str) -> str | None:
    """The number in E.164 (``+79991234567``), or ``None`` if it is not a valid international number."""
    try:
        number = phonenumbers.parse(text.strip(), None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def load_mapping(path: Path) -> dict[str, str]:
    """Author name → E.164 number, from a ``.csv`` or YAML file."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise MappingError(f"{path}: cannot read the mapping file ({exc})") from None
    rows = _csv_rows(path, text) if path.suffix.lower() == ".csv" else _yaml_rows(path, text)
    mapping: dict[str, str] = {}
    for line, name, phone in rows:
        number = e164(phone)
        if not name:
            raise MappingError(f"{path}:{line}: empty author name")
        if number is None:
            raise MappingError(f"{path}:{line}: {phone!r} is not an international phone number (+country...)")
        if name in mapping:
            raise MappingError(f"{path}:{line}: {name!r} is mapped twice")
        mapping[name] = number
    return mapping


def _csv_rows(path: Path, text: str) -> list[tuple[int, str, str]]:
    reader = csv.reader(io.StringIO(text))
    rows = []
    for record in reader:
        if not record or all(not cell.strip() for cell in record):
            continue
        if reader.line_num == 1 and [c.strip().lower() for c in record] == ["name", "phone"]:
            continue
        if len(record) != 2:
            raise MappingError(f"{path}:{reader.line_num}: expected 2 columns name,phone, got {len(record)}")
        rows.append((reader.line_num, record[0].strip(), record[1].strip()))
    return rows


def _yaml_rows(path: Path, text: str) -> list[tuple[int, str, str]]:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        raise MappingError(f"{path}:{line}: not YAML ({getattr(exc, 'problem', exc)})") from None
    if root is None:
        return []
    if not isinstance(root, yaml.MappingNode):
        raise MappingError(f"{path}:{root.start_mark.line + 1}: expected lines of `name: +phone`")
    rows = []
    for key, value in root.value:
        line = key.start_mark.line + 1
        if not isinstance(key, yaml.ScalarNode) or not isinstance(value, yaml.ScalarNode):
            raise MappingError(f"{path}:{line}: expected `name: +phone`")
        rows.append((line, str(key.value).strip(), str(value.value).strip()))
    return rows
