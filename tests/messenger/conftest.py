"""Fixtures of the node's tests, shared by the packages below.

- ``node_sql`` / ``dump_db``: SQL against a node's database (to age a code or dump every table);
- ``anode`` (small per-kind media limits), ``s3_endpoint`` + ``s3_node`` (media on moto's S3, short group
  retention): media and data-rights tests;
- ``trust_node`` with a bootstrap admin ``admin_phone``: admin, audit and channel tests;
- ``call_node``: known tariffs and TURN secret; ``billing/``, ``calls/`` and ``meetings/`` make it their
  ``node``;
- ``clock_node`` + ``clock``: call_node's settings with the development clock (``clock_helpers``), hour-long
  call / reminder / retention / event sweeps that tests run explicitly, and a group / channel retention of
  an hour. Tests that move time on run there (and take times from ``await clock.now()``), so the other
  nodes keep the wall clock.
"""

from __future__ import annotations

import json
import secrets
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import boto3
import pytest
from call_helpers import ENV as CALL_ENV
from call_helpers import HEARTBEAT_TIMEOUT, RING_TIMEOUT
from clock_helpers import CLOCK_ENV, DevClock
from media_files import BUCKET, CREDS, S3_RETENTION
from moto.server import ThreadedMotoServer
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


LIMITS = {
    "MSGFLEET_MEDIA_PHOTO_MAX_BYTES": "1000000",
    "MSGFLEET_MEDIA_DOCUMENT_MAX_BYTES": "2000000",
    "MSGFLEET_MEDIA_VOICE_MAX_BYTES": "500000",
}


@pytest.fixture(scope="session")
def anode(node_factory: Callable[..., Any]) -> Any:
    """A node (PostgreSQL + Redis + 2 workers when configured) with small per-type media limits."""
    return node_factory(shared_backends=True, **LIMITS)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=_free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    boto3.client("s3", endpoint_url=endpoint, **CREDS).create_bucket(Bucket=BUCKET)
    yield endpoint
    server.stop()


@pytest.fixture(scope="session")
def s3_node(node_factory: Callable[..., Any], s3_endpoint: str) -> Any:
    return node_factory(
        MSGFLEET_MEDIA_BACKEND="s3",
        MSGFLEET_MEDIA_S3_ENDPOINT=s3_endpoint,
        MSGFLEET_MEDIA_S3_BUCKET=BUCKET,
        MSGFLEET_MEDIA_S3_ACCESS_KEY="testing",
        MSGFLEET_MEDIA_S3_SECRET_KEY="testing",
        MSGFLEET_MEDIA_S3_PREFIX="node-a/",
        MSGFLEET_RETENTION_RULES=json.dumps(S3_RETENTION),
        **CLOCK_ENV,
    )


@pytest.fixture(scope="session")
def admin_phone() -> str:
    return f"+7998{secrets.randbelow(10**7):07d}"


@pytest.fixture(scope="session")
def trust_node(node_factory: Callable[..., Any], admin_phone: str) -> Any:
    """A node (PostgreSQL + workers when configured) whose admin is ``admin_phone``."""
    return node_factory(shared_backends=True, MSGFLEET_ADMIN_PHONES=f"+70000000000, {admin_phone}")


@pytest.fixture(scope="session")
def call_node(node_factory: Callable[..., Any]) -> Any:
    """A node that bills by ``call_helpers.TARIFFS``."""
    return node_factory(shared_backends=True, **CALL_ENV)


CLOCK_RETENTION = {"group": 3600, "channel": 3600}  # clock_node: an hour of group history and channel posts


@pytest.fixture(scope="session")
def clock_node(node_factory: Callable[..., Any]) -> Any:
    """call_node's settings, the dev clock, a 600 s heartbeat and 300 s ring timeout, an hour's retention."""
    return node_factory(
        shared_backends=True,
        **CALL_ENV,
        **CLOCK_ENV,
        MSGFLEET_CALL_HEARTBEAT_TIMEOUT=str(HEARTBEAT_TIMEOUT),
        MSGFLEET_CALL_RING_TIMEOUT=str(RING_TIMEOUT),
        MSGFLEET_RETENTION_RULES=json.dumps(CLOCK_RETENTION),
    )


@pytest.fixture
def clock(clock_node: Any) -> DevClock:
    return DevClock(clock_node.url)
