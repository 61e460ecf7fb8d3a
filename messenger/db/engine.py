"""Async engine and session factory for SQLite (WAL, embedded) or PostgreSQL (asyncpg)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from messenger.db.inline_sqlite import connector

BUSY_TIMEOUT_SECONDS = 30


def make_engine(
    url: str, *, pool_size: int = 20, pool_timeout: float | None = None, read_only: bool = False
) -> AsyncEngine:
    """An engine for ``url``; SQLite gets WAL and ``BEGIN IMMEDIATE`` so writers queue instead of failing.

    ``read_only`` (SQLite): plain deferred BEGIN, for transactions that only read — in WAL mode they run
    beside the writer instead of queueing for its lock (the WebSocket and long-poll readers use it).
    ``pool_timeout``: seconds to wait for a connection (then ``sqlalchemy.exc.TimeoutError``, a 503).
    Statement parameters are kept out of error messages (``hide_parameters``): they hold phone numbers.
    """
    if url.startswith("sqlite"):
        # Statements run in the event loop, without aiosqlite's thread hop (messenger/db/inline_sqlite.py).
        creator = connector(Path(make_url(url).database or ":memory:"), BUSY_TIMEOUT_SECONDS)
        if read_only:
            engine = create_async_engine(url, async_creator=creator, hide_parameters=True)
        else:
            # One writer connection: SQLite admits one writer at a time anyway, and queueing for the pool
            # in asyncio costs nothing, while SQLite's busy handler sleeps up to 100 ms between retries.
            engine = create_async_engine(
                url,
                async_creator=creator,
                pool_size=1,
                max_overflow=0,
                pool_timeout=pool_timeout or 60,
                hide_parameters=True,
            )
        _tune_sqlite(engine, immediate=not read_only)
        return engine
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_timeout=pool_timeout or 30,
        pool_pre_ping=False,
        hide_parameters=True,
    )


def _tune_sqlite(engine: AsyncEngine, *, immediate: bool) -> None:
    # Recipe from the SQLAlchemy aiosqlite docs ("Serializable isolation / Savepoints"): take the write lock
    # at BEGIN so two deferred transactions never deadlock on lock upgrade (SQLITE_BUSY without waiting).
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON", "busy_timeout=30000"):
            cur.execute(f"PRAGMA {pragma}")
        cur.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
