"""Fixtures of the data-rights tests: a node with a family tariff and a bootstrap admin (``drnode``),
a node with short retention for group chats and channel posts (``retnode``), and a table scanner."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import String, Text, func, or_, select
from sqlalchemy.ext.asyncio import create_async_engine

import messenger.db.models  # noqa: F401  (every table in Base.metadata)
from messenger.datarights.registry import ALLOWED
from messenger.db.base import Base

TARIFFS = {"plans": [{"name": "basic"}, {"name": "family", "kind": "family", "max_members": 3}]}
RETENTION = {"group": 2, "channel": 2}  # seconds: old enough to be swept within one test


@pytest.fixture(scope="session")
def admin_phone() -> str:
    return f"+7997{secrets.randbelow(10**7):07d}"


@pytest.fixture(scope="session")
def drnode(node_factory: Callable[..., Any], admin_phone: str) -> Any:
    """PostgreSQL + 2 workers + Redis when MSGFLEET_TEST_* are set, else SQLite."""
    return node_factory(
        shared_backends=True, MSGFLEET_TARIFFS=json.dumps(TARIFFS), MSGFLEET_ADMIN_PHONES=admin_phone
    )


@pytest.fixture(scope="session")
def retnode(node_factory: Callable[..., Any]) -> Any:
    return node_factory(
        shared_backends=True,
        MSGFLEET_RETENTION_RULES=json.dumps(RETENTION),
        MSGFLEET_RETENTION_INTERVAL_SECONDS="0.3",
    )


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
