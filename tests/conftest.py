"""Shared fixtures: real messenger nodes (``python -m messenger serve`` on loopback) and signed-up users.

``node`` is one node for the session: SQLite, or — when MSGFLEET_TEST_DATABASE_URL and
MSGFLEET_TEST_REDIS_URL are set — a fresh PostgreSQL database (dropped afterwards) with two worker
processes sharing Redis. ``node_factory(**env)`` starts more (env = extra MSGFLEET_* settings).
``signup()`` returns a logged-in ``messenger.client.MessengerClient`` with published keys.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from messenger.client import MessengerClient, sms_file_reader

STATE = "RU-MOW"


@dataclass
class NodeProcess:
    """A node started in a subprocess; ``db_url`` reaches its database from the test."""

    url: str
    data_dir: Path
    db_url: str
    process: subprocess.Popen[bytes]
    on_stop: list[Callable[[], None]] = field(default_factory=list)

    @property
    def sms_path(self) -> Path:
        return self.data_dir / "sms.jsonl"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for callback in self.on_stop:
            callback()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _postgres_database(server_url: str) -> tuple[str, Callable[[], None]]:
    """Create ``msgfleet_msg_<random>`` on the test server; returns its URL and a dropper."""
    import asyncpg

    name = f"msgfleet_msg_{secrets.token_hex(4)}"
    base, _, _ = server_url.rpartition("/")
    dsn = server_url.replace("+asyncpg", "")

    async def run(sql: str) -> None:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    return f"{base}/{name}", lambda: asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def start_node(data_dir: Path, *, shared_backends: bool = False, **env: str) -> NodeProcess:
    """Start a node on a free loopback port and wait until ``/readyz`` answers."""
    port = _free_port()
    cmd = [
        sys.executable,
        "-m",
        "messenger",
        "serve",
        "--state",
        STATE,
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
    ]
    database, redis = os.environ.get("MSGFLEET_TEST_DATABASE_URL"), os.environ.get("MSGFLEET_TEST_REDIS_URL")
    drop: list[Callable[[], None]] = []
    db_url = f"sqlite+aiosqlite:///{data_dir.resolve() / 'node.db'}"
    if shared_backends and database and redis:
        db_url, dropper = _postgres_database(database)
        drop.append(dropper)
        cmd += ["--database-url", db_url, "--redis-url", redis, "--workers", "2"]
        env.setdefault("MSGFLEET_REDIS_PREFIX", f"msgfleet-test:{secrets.token_hex(4)}")
    data_dir.mkdir(parents=True, exist_ok=True)
    node_env = {**os.environ, "MSGFLEET_CODE_RATE_PER_IP": "0", "MSGFLEET_LOG_LEVEL": "warning", **env}
    log = (data_dir / "node.log").open("wb")
    process = subprocess.Popen(cmd, env=node_env, stdout=log, stderr=subprocess.STDOUT)
    node = NodeProcess(f"http://127.0.0.1:{port}", data_dir, db_url, process, drop)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            node.stop()
            raise RuntimeError(f"node exited: {(data_dir / 'node.log').read_text()[-2000:]}")
        try:
            if httpx.get(f"{node.url}/readyz", timeout=1).status_code == 200:
                return node
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    node.stop()
    raise RuntimeError(f"node did not become ready: {(data_dir / 'node.log').read_text()[-2000:]}")


@pytest.fixture(scope="session")
def node_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., NodeProcess]]:
    """``node_factory(shared_backends=False, **MSGFLEET_env)`` → a started node, stopped after the session."""
    started: list[NodeProcess] = []

    def make(shared_backends: bool = False, **env: str) -> NodeProcess:
        node = start_node(tmp_path_factory.mktemp("node"), shared_backends=shared_backends, **env)
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


Signup = Callable[..., Awaitable[MessengerClient]]


@pytest.fixture
async def signup(node: NodeProcess) -> AsyncIterator[Signup]:
    """``await signup(phone=None, node=None, device_name="cli")`` → a logged-in client with keys."""
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
