"""Messenger-only fixtures: run SQL against a node's database (to age a code or dump every table)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import MetaData, select, text
from sqlalchemy.ext.asyncio import create_async_engine

Sql = Callable[..., Awaitable[list[Any]]]


@pytest.fixture
async def node_sql(node: Any) -> AsyncIterator[Sql]:
    """``await node_sql("UPDATE ...", **params)`` on the session node's database; returns rows if any."""
    engine = create_async_engine(node.db_url)

    async def run(statement: str, **params: Any) -> list[Any]:
        async with engine.begin() as conn:
            result = await conn.execute(text(statement), params)
            return list(result.all()) if result.returns_rows else []

    yield run
    await engine.dispose()


async def dump_database(db_url: str) -> str:
    """Every row of every table of the database, as text (what an attacker with the disk would read)."""
    engine = create_async_engine(db_url)
    try:
        async with engine.connect() as conn:
            meta = MetaData()
            await conn.run_sync(meta.reflect)
            parts = []
            for table in meta.sorted_tables:
                rows = (await conn.execute(select(table))).all()
                parts.append(f"{table.name}: {[tuple(r) for r in rows]!r}")
            return "\n".join(parts)
    finally:
        await engine.dispose()


@pytest.fixture
def dump_db() -> Callable[[str], Awaitable[str]]:
    """``await dump_db(node.db_url)``: every row of every table as text."""
    return dump_database
