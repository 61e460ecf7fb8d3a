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

# A start (migrations, then each worker's lifespan) takes 2-5 s on an idle machine and tens of seconds
# with the cores loaded 8-fold (issue 17); the bound is for a hung node, not a slow one.
READY_TIMEOUT = 180.0


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
    timeout: float = READY_TIMEOUT,
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
    try:
        wait_ready(node.url, process, log_path, timeout=timeout, what=f"node {state}")
    except BaseException:
        node.stop()
        raise
    return node


def wait_ready(
    url: str, process: subprocess.Popen[bytes], log_path: Path, *, timeout: float = READY_TIMEOUT, what: str
) -> None:
    """Poll ``url/readyz`` until it answers 200. Fails naming ``what`` was awaited, where, and the log's
    tail, if the process exits (``PortTaken`` when its port was taken) or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log_text = log_path.read_text(errors="replace")
            if "address already in use" in log_text.lower():
                raise PortTaken(f"{what}: the port of {url} was taken")
            raise RuntimeError(f"{what} exited ({process.returncode}) before ready: {log_text[-2000:]}")
        try:
            if httpx.get(f"{url}/readyz", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    tail = log_path.read_text(errors="replace")[-2000:]
    raise RuntimeError(
        f"{what} did not answer 200 on {url}/readyz within {timeout:.0f} s (log {log_path}): {tail}"
    )
