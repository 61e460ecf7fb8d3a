"""State ids (ISO 3166-2) checked with pycountry (the node may not import msgfleet.schema)."""

from __future__ import annotations

from functools import cache

import pycountry


@cache
def _known(code: str) -> bool:
    return pycountry.subdivisions.get(code=code) is not None


def validate_state_id(value: str) -> str:
    """Return ``value`` if it is a known ISO 3166-2 subdivision code, else raise ``ValueError``."""
    if value != value.strip().upper():
        raise ValueError(f"state id {value!r} must be written as {value.strip().upper()!r}")
    if "-" not in value or not _known(value):
        raise ValueError(f"{value!r} is not an ISO 3166-2 subdivision code (e.g. RU-MOW, US-CA)")
    return value
