"""Real state nodes for the federation tests: ``python -m messenger serve`` subprocesses on loopback.

``make_nodes(root, ["RU-MOW", "RU-SPE"], policy=...)`` starts one node per state with its own data dir,
a federation key generated up front and one shared peers file; each database is SQLite in its data dir,
or — when MSGFLEET_TEST_DATABASE_URL is set — a fresh PostgreSQL database (dropped afterwards).
Nodes can be killed (SIGKILL) and restarted on the same port and data.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from nacl.signing import SigningKey
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from messenger.client import MessengerClient
from messenger.federation.keys import KEY_FILE, load_or_create, public_key_b64, read_key
from messenger.federation.signing import sign_headers

STATES = ["RU-MOW", "RU-SPE", "RU-NVS"]
ALLOWED_FAKE, FORBIDDEN_FAKE = "RU-TVE", "RU-KDA"  # peers the tests impersonate; every node forbids RU-KDA
NODE_ENV = {"MSGFLEET_CODE_RATE_PER_IP": "0", "MSGFLEET_LOG_LEVEL": "warning"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pg(sql: str) -> None:
    import asyncpg

    async def run() -> None:
        conn = await asyncpg.connect(os.environ["MSGFLEET_TEST_DATABASE_URL"].replace("+asyncpg", ""))
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run())


@dataclass
class StateNode:
    state: str
    data_dir: Path
    port: int
    peers_file: Path
    db_url: str
    process: subprocess.Popen[bytes] | None = None
    drop: Callable[[], None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def sms_path(self) -> Path:
        return self.data_dir / "sms.jsonl"

    def start(self) -> None:
        self.spawn()
        self.wait_ready()

    def spawn(self) -> None:
        cmd = [sys.executable, "-m", "messenger", "serve", "--state", self.state, "--port", str(self.port)]
        cmd += ["--data-dir", str(self.data_dir), "--peers", str(self.peers_file)]
        if not self.db_url.startswith("sqlite"):
            cmd += ["--database-url", self.db_url]
        log = (self.data_dir / "node.log").open("ab")
        env = {**os.environ, **NODE_ENV}
        self.process = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
        log.close()

    def wait_ready(self, timeout: float = 120) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.state} exited: {(self.data_dir / 'node.log').read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.state} not ready: {(self.data_dir / 'node.log').read_text()[-2000:]}")

    def kill(self) -> None:
        """SIGKILL: no shutdown, whatever was in flight is cut."""
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def federation_key(self) -> SigningKey:
        """The node's own federation signing key (what an operator of that state holds)."""
        return read_key(self.data_dir / KEY_FILE)

    async def rows(self, sql: str, **params: Any) -> list[Any]:
        """Run a read query on this node's database (for residency and 'nothing stored' checks)."""
        engine = create_async_engine(self.db_url)
        try:
            async with engine.connect() as conn:
                return list((await conn.execute(text(sql), params)).all())
        finally:
            await engine.dispose()


@dataclass
class Nodes:
    by_state: dict[str, StateNode] = field(default_factory=dict)
    fakes: dict[str, SigningKey] = field(default_factory=dict)  # peers the tests impersonate

    def __getitem__(self, state: str) -> StateNode:
        return self.by_state[state]


def make_nodes(
    root: Path,
    states: list[str],
    *,
    policy: dict[str, dict[str, list[str]]] | None = None,
    fake_peers: tuple[str, ...] = (),
) -> Nodes:
    """Started nodes for ``states`` sharing one peers file; ``fake_peers`` are listed as peers (at a closed
    port) with keys the tests hold, so the tests can send signed requests in their name."""
    nodes = Nodes(fakes={state: SigningKey.generate() for state in fake_peers})
    peers_file = root / "peers.json"
    server = os.environ.get("MSGFLEET_TEST_DATABASE_URL")
    peers = []
    for state in states:
        data_dir = root / state
        data_dir.mkdir(parents=True)
        key = load_or_create(data_dir / KEY_FILE)
        node = StateNode(
            state, data_dir, _free_port(), peers_file, f"sqlite+aiosqlite:///{data_dir / 'node.db'}"
        )
        if server:
            name = f"msgfleet_fed_{state.lower().replace('-', '_')}_{secrets.token_hex(4)}"
            _pg(f'CREATE DATABASE "{name}"')
            node.db_url = f"{server.rpartition('/')[0]}/{name}"
            node.drop = lambda name=name: _pg(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[misc]
        nodes.by_state[state] = node
        peers.append({"state": state, "url": node.url, "public_key": public_key_b64(key)})
    fakes = [
        {"state": s, "url": "http://127.0.0.1:9", "public_key": public_key_b64(k)}
        for s, k in nodes.fakes.items()
    ]
    peers_file.write_text(json.dumps({"peers": peers + fakes, "policy": policy or {}}, indent=2))
    try:
        for node in nodes.by_state.values():
            node.spawn()
        for node in nodes.by_state.values():
            node.wait_ready()
    except BaseException:
        stop_nodes(nodes)
        raise
    return nodes


def stop_nodes(nodes: Nodes) -> None:
    for node in nodes.by_state.values():
        node.stop()
        if node.drop is not None:
            node.drop()


def new_phone() -> str:
    return f"+7999{secrets.randbelow(10**7):07d}"


# Events a client already synced that a ``collect`` for another chat did not take (per client).
_STASH: weakref.WeakKeyDictionary[MessengerClient, list[dict[str, Any]]] = weakref.WeakKeyDictionary()


async def collect(
    client: MessengerClient, chat_id: str, count: int, *, timeout: float = 30
) -> list[dict[str, Any]]:
    """Long-poll ``client``'s events until ``count`` ``message.new`` of ``chat_id`` arrived (or timeout);
    other chats' messages are kept for later ``collect`` calls."""
    stash = _STASH.setdefault(client, [])
    deadline = time.monotonic() + timeout
    while True:
        got = [e for e in stash if e["data"]["chat_id"] == chat_id]
        if len(got) >= count or time.monotonic() >= deadline:
            stash[:] = [e for e in stash if e["data"]["chat_id"] != chat_id]
            return got
        events = await client.sync(timeout=min(5.0, max(0.1, deadline - time.monotonic())))
        stash += [e for e in events if e["kind"] == "message.new"]


async def wait_for(check: Callable[[], Any], *, timeout: float = 20, what: str = "condition") -> Any:
    """Poll the async ``check`` until it returns something truthy; fail naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = await check()
        if result:
            return result
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


async def signed_put(
    node: StateNode,
    path: str,
    payload: Any,
    *,
    origin: str,
    key: SigningKey,
    destination: str | None = None,
    now: float | None = None,
    method: str = "PUT",
) -> httpx.Response:
    """A request signed as peer ``origin`` (what another state's node would send)."""
    body = json.dumps(payload).encode()
    headers = sign_headers(
        key,
        method=method,
        target=path,
        body=body,
        origin=origin,
        destination=destination or node.state,
        now=now,
    )
    async with httpx.AsyncClient(base_url=node.url, timeout=10) as http:
        return await http.request(
            method, path, content=body, headers={**headers, "Content-Type": "application/json"}
        )
