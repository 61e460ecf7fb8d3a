"""Start a node as a subprocess on loopback (``python -m messenger serve``): tests, benchmarks, demo."""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx


@dataclass
class NodeProcess:
    """A running node; ``db_url`` reaches its database, ``sms_path`` its SMS sink."""

    url: str
    data_dir: Path
    db_url: str
    process: subprocess.Popen[bytes]
    on_stop: list[Callable[[], None]] = field(default_factory=list)

    @property
    def sms_path(self) -> Path:
        return self.data_dir / "sms.jsonl"

    def stop(self) -> None:
        """Terminate the node (and its workers), then run the ``on_stop`` callbacks (drop databases)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        while self.on_stop:
            self.on_stop.pop()()

    def __enter__(self) -> NodeProcess:
        return self

    def __exit__(self, *_exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def scratch_database(server_url: str, prefix: str = "msgfleet_msg") -> tuple[str, Callable[[], None]]:
    """Create ``<prefix>_<random>`` on a PostgreSQL server; returns its URL and a function that drops it."""
    import asyncpg

    name = f"{prefix}_{secrets.token_hex(4)}"
    base = server_url.rpartition("/")[0]
    dsn = server_url.replace("+asyncpg", "")

    async def run(sql: str) -> None:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    return f"{base}/{name}", lambda: asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def start_node(data_dir: Path, **kwargs: Any) -> NodeProcess:
    """Start a node on a free loopback port (log in ``data_dir/node.log``) and wait for ``/readyz``.

    Keyword arguments as ``_start_once``. The port is picked before the node binds it, so another
    process may take it in between: then the start is retried on a new port (up to 3 times).
    """
    for attempt in range(3):
        try:
            return _start_once(data_dir, **kwargs)
        except PortTaken:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


class PortTaken(RuntimeError):
    """The node could not bind its port (taken by another process after ``free_port``)."""


def _start_once(
    data_dir: Path,
    *,
    state: str = "RU-MOW",
    database_url: str | None = None,
    redis_url: str | None = None,
    workers: int = 1,
    env: dict[str, str] | None = None,
    timeout: float = 60,
) -> NodeProcess:
    port = free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable,
        "-m",
        "messenger",
        "serve",
        "--state",
        state,
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
        "--workers",
        str(workers),
    ]
    if database_url:
        cmd += ["--database-url", database_url]
    if redis_url:
        cmd += ["--redis-url", redis_url]
    log_path = data_dir / "node.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            cmd, env={**os.environ, **(env or {})}, stdout=log, stderr=subprocess.STDOUT
        )
    db_url = database_url or f"sqlite+aiosqlite:///{data_dir.resolve() / 'node.db'}"
    node = NodeProcess(f"http://127.0.0.1:{port}", data_dir, db_url, process)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log_text = log_path.read_text()
            if "address already in use" in log_text.lower():
                raise PortTaken(f"port {port} was taken")
            raise RuntimeError(f"node exited ({process.returncode}): {log_text[-2000:]}")
        try:
            if httpx.get(f"{node.url}/readyz", timeout=1).status_code == 200:
                return node
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    node.stop()
    raise RuntimeError(f"node did not become ready in {timeout} s: {log_path.read_text()[-2000:]}")
