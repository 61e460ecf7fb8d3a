"""Shared fixtures: real messenger nodes (``python -m messenger serve`` on loopback) and signed-up users.

``node`` is one node for the session: SQLite, or — when MSGFLEET_TEST_DATABASE_URL and
MSGFLEET_TEST_REDIS_URL are set — a fresh PostgreSQL database (dropped afterwards) with two worker
processes sharing Redis. ``node_factory(shared_backends=False, **MSGFLEET_env)`` starts more.
``signup()`` returns a logged-in ``messenger.client.MessengerClient`` with published keys.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import pytest

from messenger.client import MessengerClient, sms_file_reader
from messenger.launch import NodeProcess, scratch_database, start_node

# Every test client comes from 127.0.0.1, so the per-IP code limit is off except where a test sets it.
# A small pool per worker: a session keeps a dozen two-worker nodes open against one PostgreSQL server
# (100 connections by default), and no test needs more than a few connections at once.
TEST_NODE_ENV = {
    "MSGFLEET_CODE_RATE_PER_IP": "0",
    "MSGFLEET_LOG_LEVEL": "warning",
    "MSGFLEET_DB_POOL_SIZE": "5",
}


@pytest.fixture(scope="session")
def node_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., NodeProcess]]:
    """``node_factory(shared_backends=False, **env)`` → a started node, stopped after the session.

    ``shared_backends``: PostgreSQL (a scratch database) + 2 workers + Redis if MSGFLEET_TEST_* are set.
    """
    started: list[NodeProcess] = []

    def make(shared_backends: bool = False, **env: str) -> NodeProcess:
        database, redis = (
            os.environ.get("MSGFLEET_TEST_DATABASE_URL"),
            os.environ.get("MSGFLEET_TEST_REDIS_URL"),
        )
        node_env = {**TEST_NODE_ENV, **env}
        data_dir = tmp_path_factory.mktemp("node")
        if shared_backends and database and redis:
            url, drop = scratch_database(database)
            node_env.setdefault("MSGFLEET_REDIS_PREFIX", f"msgfleet-test:{secrets.token_hex(4)}")
            try:
                node = start_node(data_dir, database_url=url, redis_url=redis, workers=2, env=node_env)
            except Exception:
                drop()
                raise
            node.on_stop.append(drop)
        else:
            node = start_node(data_dir, env=node_env)
        started.append(node)
        return node

    yield make
    for node in started:
        node.stop()


@pytest.fixture(scope="session")
def node(node_factory: Callable[..., NodeProcess]) -> NodeProcess:
    """The session's main node (PostgreSQL + 2 workers + Redis when configured, else SQLite)."""
    return node_factory(shared_backends=True, MSGFLEET_DEV_SMS_ENDPOINT="true")


def new_phone() -> str:
    return f"+7999{secrets.randbelow(10**7):07d}"


@pytest.fixture
async def signup(node: NodeProcess) -> AsyncIterator[Callable[..., Awaitable[MessengerClient]]]:
    """``await signup(phone=None, node_=None, device_name=..., otp=...)`` → a logged-in client with keys."""
    clients: list[MessengerClient] = []

    async def make(
        phone: str | None = None, node_: NodeProcess | None = None, **kwargs: str
    ) -> MessengerClient:
        target = node_ or node
        client = await MessengerClient.login(
            target.url, phone or new_phone(), sms_file_reader(target.sms_path), **kwargs
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()
