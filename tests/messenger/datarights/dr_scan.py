"""Helper of the data-rights tests: scan every text column of every table for a user's traces."""

from __future__ import annotations

from sqlalchemy import String, Text, func, or_, select
from sqlalchemy.ext.asyncio import create_async_engine

import messenger.db.models  # noqa: F401  (every table in Base.metadata)
from messenger.datarights.registry import ALLOWED
from messenger.db.base import Base


async def scan(db_url: str, needles: list[str]) -> dict[str, int]:
    """``table.column`` -> rows whose text contains any of ``needles``, over every text column of every
    table in ``Base.metadata`` except the documented ``ALLOWED`` ones."""
    engine = create_async_engine(db_url)
    hits: dict[str, int] = {}
    try:
        async with engine.connect() as conn:
            for table in Base.metadata.sorted_tables:
                for column in table.columns:
                    name = f"{table.name}.{column.name}"
                    if name in ALLOWED or not isinstance(column.type, String | Text):
                        continue
                    match = or_(*(column.contains(n, autoescape=True) for n in needles))
                    count = await conn.scalar(select(func.count()).select_from(table).where(match))
                    if count:
                        hits[name] = count
    finally:
        await engine.dispose()
    return hits
