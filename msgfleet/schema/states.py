"""State ids: ISO 3166-2 subdivision codes (RU-MOW, US-CA), checked against pycountry."""

from functools import cache
from typing import Annotated, Any

import pycountry
from pydantic import AfterValidator


@cache
def _subdivision(code: str) -> Any:  # pycountry records are untyped
    return pycountry.subdivisions.get(code=code)


def validate_state_id(value: str) -> str:
    """Return ``value`` if it is a known ISO 3166-2 code, else raise ``ValueError`` naming it."""
    code = value.strip().upper()
    if code != value:
        raise ValueError(f"state id {value!r} must be written as {code!r}")
    if "-" not in code or _subdivision(code) is None:
        raise ValueError(f"{value!r} is not an ISO 3166-2 subdivision code (e.g. RU-MOW, US-CA)")
    return code


def state_name(code: str) -> str:
    """The subdivision's English/romanised name from pycountry."""
    sub = _subdivision(validate_state_id(code))
    return str(sub.name)


StateId = Annotated[str, AfterValidator(validate_state_id)]
