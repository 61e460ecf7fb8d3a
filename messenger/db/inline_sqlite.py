"""aiosqlite without its thread: statements run in the event loop, for SQLAlchemy's ``sqlite+aiosqlite``.

aiosqlite runs every call (each ``execute``, ``fetchall``, ``commit``) on a worker thread and hands the
result back through ``call_soon_threadsafe``. For the node's statements — index lookups on a WAL database
whose pages are in memory, tens of microseconds each — that hand-off costs more than the statement: it was
the top leaf of the node's profile (23% of its CPU, issue 11, docs/PERFORMANCE.md). This subclass keeps
aiosqlite's API (so SQLAlchemy's dialect and pool are unchanged) and runs each call inline instead.

What the event loop now waits for: a statement's own run time, and SQLite's busy handler when another
*process* holds the write lock (the node's writes go through one connection, and WAL readers never wait
for it), such as an operator's CLI writing to the same file. The node's long sweeps commit in batches.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable, Generator
from pathlib import Path
from typing import Any

import aiosqlite


class _InlineQueue:
    """Stands in for aiosqlite's queue to its thread: SQLAlchemy's isolation-level setter puts
    ``(future, function)`` there directly; run it now and settle the future."""

    def put_nowait(self, item: tuple[asyncio.Future[Any] | None, Callable[[], Any]]) -> None:
        future, function = item
        try:
            result = function()
        except BaseException as error:  # handed to the awaiting caller, as aiosqlite's thread does
            if future is not None and not future.done():
                future.set_exception(error)
            return
        if future is not None and not future.done():
            future.set_result(result)


class InlineConnection(aiosqlite.Connection):
    """An ``aiosqlite.Connection`` whose calls run in the caller's thread (never starts its thread)."""

    def __init__(self, connector: Callable[[], sqlite3.Connection]):
        super().__init__(connector, iter_chunk_size=64)
        self._tx = _InlineQueue()  # type: ignore[assignment]

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        return fn(*args, **kwargs)

    async def _connect(self) -> InlineConnection:
        if self._connection is None:
            self._connection = self._connector()
        return self

    def __await__(self) -> Generator[Any, None, InlineConnection]:
        return self._connect().__await__()

    def stop(self) -> None:
        self._running = False
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def connector(path: Path, timeout: float) -> Callable[[], Awaitable[InlineConnection]]:
    """``async_creator`` for ``create_async_engine``: a new inline connection to ``path``."""

    async def create() -> InlineConnection:
        # check_same_thread off: SQLAlchemy may finalise a pooled connection from the garbage collector.
        return await InlineConnection(
            lambda: sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)
        )

    return create
