"""Alembic environment: async engine, target metadata of every model."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

import messenger.db.models  # noqa: F401  (registers every table on Base.metadata)
from messenger.db.base import Base

target_metadata = Base.metadata
MIGRATION_LOCK = 0x6D736766  # "msgf": the PostgreSQL advisory lock every migrator of a database takes


def _include(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    """Autogenerate ignores the full-text indexes of ``c5_search`` (FTS5 tables, GIN expression indexes)."""
    return not (reflected and compare_to is None and "_fts" in (name or ""))


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # ALTER TABLE on SQLite
        include_object=_include,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            # One migrator at a time (a rollout's migration Job, every replica's start-up check);
            # the others wait and then find the heads applied. Released when the transaction ends.
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
        context.run_migrations()


async def _online() -> None:
    engine = create_async_engine(context.config.get_main_option("sqlalchemy.url") or "")
    async with engine.connect() as connection:
        await connection.run_sync(_run)
    await engine.dispose()


if context.is_offline_mode():
    context.configure(url=context.config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_online())
