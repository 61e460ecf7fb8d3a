"""Metering arithmetic: billing periods (calendar months, UTC) and minute rounding.

A call leg crossing a period boundary is split at the boundary; rounding is applied to the leg's
cumulative time, so each period gets ``round(t_boundary) - round(t_before)`` minutes and the leg as
a whole is billed exactly ``round(total)``: a 150 s call starting 30 s before midnight of the 1st is
1 minute in the old period and 2 in the new one under ``per_minute_up`` (3 = ceil(150/60) in total),
never the 4 that rounding each part separately would give.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

from messenger.billing.tariffs import Rounding


def period_of(ts: float) -> str:
    """The billing period (``YYYY-MM``, UTC) containing UNIX time ``ts``."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m")


def period_bounds(period: str) -> tuple[float, float]:
    """``[start, end)`` of a ``YYYY-MM`` period as UNIX seconds; ``ValueError`` for a malformed period."""
    start = datetime.strptime(period, "%Y-%m").replace(tzinfo=UTC)
    end = (
        start.replace(year=start.year + 1, month=1)
        if start.month == 12
        else start.replace(month=start.month + 1)
    )
    return start.timestamp(), end.timestamp()


def billable_minutes(seconds: float, rounding: Rounding) -> float:
    """Minutes billed for ``seconds`` of talk: exact (per second) or each started minute in full."""
    if seconds <= 0:
        return 0.0
    if rounding == "per_second":
        return seconds / 60
    return float(math.ceil(round(seconds, 6) / 60))  # round(): float noise must not add a minute


def split_leg(start: float, end: float, rounding: Rounding) -> list[tuple[str, float, float]]:
    """``[(period, seconds, minutes)]`` of a leg from ``start`` to ``end``, split at period boundaries."""
    parts: list[tuple[str, float, float]] = []
    cursor, billed = start, 0.0
    while cursor < end:
        period = period_of(cursor)
        boundary = min(end, period_bounds(period)[1])
        cumulative = billable_minutes(boundary - start, rounding)
        parts.append((period, boundary - cursor, cumulative - billed))
        cursor, billed = boundary, cumulative
    return parts
