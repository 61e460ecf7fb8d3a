"""Channel post to N subscribers (default 100,000): time to reach every online device, and peak memory.

Seeds a fresh node database with N users (one device each) subscribed to one channel, starts a real node
(``python -m messenger serve`` on loopback), opens ``--online`` WebSockets for a random sample of the
subscriber devices, then has the owner post ``--posts`` times. Per post it reports the poster's request
latency (the fan-out runs in the background), the time until the last online socket got the post, the
time until the fan-out had written the event for all N devices, and the node's peak RSS. Prints medians.

    .venv/bin/python benchmarks/fanout.py                      # SQLite, 100k subscribers, 1000 online
    .venv/bin/python benchmarks/fanout.py --subscribers 20000 --database-url postgresql+asyncpg://...
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import create_async_engine
from websockets.asyncio.client import ClientConnection, connect

from messenger.db.migrate import upgrade
from messenger.db.models import Device, User
from messenger.db.models.channels import Channel, ChannelMember
from messenger.security import token_hash

STATE = "RU-MOW"
CHUNK = 10_000


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _rss_kib(pid: int, field: str) -> int:
    """``VmRSS`` (now) or ``VmHWM`` (peak) of a process from /proc, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise LookupError(field)


async def seed(db_url: str, subscribers: int, online: int, rng: np.random.Generator) -> dict[str, Any]:
    """Users u0..uN-1 with one device each, all subscribed to one channel owned by an extra user."""
    engine = create_async_engine(db_url)
    ts = time.time()
    owner_token = secrets.token_urlsafe(32)
    online_idx = set(rng.choice(subscribers, size=min(online, subscribers), replace=False).tolist())
    tokens: list[str] = []
    async with engine.begin() as conn:
        await conn.execute(
            insert(User), [{"id": f"uowner@{STATE}", "phone": "+70000000000", "created_at": ts}]
        )
        await conn.execute(
            insert(Device),
            [
                {
                    "id": "downer",
                    "user_id": f"uowner@{STATE}",
                    "name": "owner",
                    "platform": "bench",
                    "token_hash": token_hash(owner_token),
                    "created_at": ts,
                    "event_seq": 0,
                }
            ],
        )
        await conn.execute(
            insert(Channel),
            [
                {
                    "id": "hbench",
                    "title": "bench",
                    "description": "",
                    "created_by": f"uowner@{STATE}",
                    "created_at": ts,
                    "last_seq": 0,
                    "subscribers": subscribers + 1,
                }
            ],
        )
        await conn.execute(
            insert(ChannelMember),
            [
                {
                    "channel_id": "hbench",
                    "user_id": f"uowner@{STATE}",
                    "role": "owner",
                    "joined_at": ts,
                    "last_read_seq": 0,
                }
            ],
        )
        for start in range(0, subscribers, CHUNK):
            users, devices, members = [], [], []
            for i in range(start, min(start + CHUNK, subscribers)):
                user = f"u{i:08d}@{STATE}"
                token = secrets.token_urlsafe(32) if i in online_idx else secrets.token_hex(16)
                if i in online_idx:
                    tokens.append(token)
                users.append({"id": user, "phone": f"+7990{i:07d}", "created_at": ts})
                devices.append(
                    {
                        "id": f"d{i:08d}",
                        "user_id": user,
                        "name": "bench",
                        "platform": "bench",
                        "token_hash": token_hash(token),
                        "created_at": ts,
                        "event_seq": 0,
                    }
                )
                members.append(
                    {
                        "channel_id": "hbench",
                        "user_id": user,
                        "role": "subscriber",
                        "joined_at": ts,
                        "last_read_seq": 0,
                    }
                )
            await conn.execute(insert(User), users)
            await conn.execute(insert(Device), devices)
            await conn.execute(insert(ChannelMember), members)
    await engine.dispose()
    return {"owner_token": owner_token, "online_tokens": tokens}


class Online:
    """The online devices' sockets; ``arrivals[seq]`` collects the time each socket got post ``seq``."""

    def __init__(self) -> None:
        self.arrivals: dict[int, list[float]] = {}
        self.sockets: list[ClientConnection] = []
        self.tasks: list[asyncio.Task[None]] = []

    async def open(self, url: str, tokens: list[str]) -> None:
        async def one(token: str) -> ClientConnection:
            ws_url = url.replace("http", "ws", 1) + "/v1/ws"
            conn = await connect(ws_url, additional_headers={"Authorization": f"Bearer {token}"})
            ready = json.loads(await conn.recv())
            assert ready["type"] == "ready", ready
            return conn

        for start in range(0, len(tokens), 200):  # bounded concurrency while connecting
            self.sockets += await asyncio.gather(*(one(t) for t in tokens[start : start + 200]))
        self.tasks = [asyncio.create_task(self._listen(conn)) for conn in self.sockets]

    async def _listen(self, conn: ClientConnection) -> None:
        async for raw in conn:
            frame = json.loads(raw)
            if frame.get("kind") == "channel.post":
                self.arrivals.setdefault(frame["data"]["seq"], []).append(time.perf_counter())

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*(c.close() for c in self.sockets), return_exceptions=True)


async def measure(
    url: str, pid: int, creds: dict[str, Any], posts: int, timeout: float
) -> list[dict[str, float]]:
    online = Online()
    await online.open(url, creds["online_tokens"])
    n_online = len(online.sockets)
    results = []
    headers = {"Authorization": f"Bearer {creds['owner_token']}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60) as http:
        for seq in range(1, posts + 1):
            rss_before = _rss_kib(pid, "VmRSS")
            t0 = time.perf_counter()
            response = await http.post("/v1/channels/hbench/posts", json={"text": f"bench post {seq}"})
            t_ack = time.perf_counter() - t0
            assert response.status_code == 202, response.text
            deadline = t0 + timeout
            while len(online.arrivals.get(seq, [])) < n_online and time.perf_counter() < deadline:
                await asyncio.sleep(0.01)
            got = online.arrivals.get(seq, [])
            if len(got) < n_online:
                raise RuntimeError(
                    f"post {seq}: only {len(got)}/{n_online} online devices got it in {timeout} s"
                )
            stats: dict[str, Any] = {}
            while time.perf_counter() < deadline:
                stats = (await http.get(f"/v1/channels/hbench/posts/{seq}/stats")).json()
                if stats["fanout_done"]:
                    break
                await asyncio.sleep(0.05)
            if not stats.get("fanout_done"):
                raise RuntimeError(f"post {seq}: fan-out not finished in {timeout} s: {stats}")
            results.append(
                {
                    "ack_ms": t_ack * 1000,
                    "online_p50_s": float(np.median(got)) - t0,
                    "online_all_s": max(got) - t0,
                    "fanout_all_s": float(stats["fanout_seconds"]),
                    "devices": float(stats["delivered_devices"]),
                    "rss_before_mib": rss_before / 1024,
                    "peak_rss_mib": _rss_kib(pid, "VmHWM") / 1024,
                }
            )
    await online.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--online", type=int, default=1000, help="subscriber devices with an open WebSocket")
    parser.add_argument("--posts", type=int, default=3)
    parser.add_argument("--database-url", default=None, help="empty PostgreSQL database (default: SQLite)")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per post before giving up")
    parser.add_argument("--seed", type=int, default=20261127)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="msgfleet-fanout-") as tmp:
        data_dir = Path(tmp)
        db_url = args.database_url or f"sqlite+aiosqlite:///{data_dir / 'node.db'}"
        upgrade(db_url)
        t = time.perf_counter()
        creds = asyncio.run(seed(db_url, args.subscribers, args.online, np.random.default_rng(args.seed)))
        print(f"seeded {args.subscribers} subscribers in {time.perf_counter() - t:.1f} s", file=sys.stderr)
        port = _free_port()
        cmd = [sys.executable, "-m", "messenger", "serve", "--state", STATE, "--port", str(port)]
        cmd += ["--data-dir", str(data_dir), "--database-url", db_url]
        env = {**os.environ, "MSGFLEET_LOG_LEVEL": "warning"}
        with (data_dir / "node.log").open("wb") as log:
            node = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(300):  # up to 30 s
                try:
                    if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
            else:
                raise RuntimeError((data_dir / "node.log").read_text()[-2000:])
            rows = asyncio.run(measure(url, node.pid, creds, args.posts, args.timeout))
        finally:
            node.terminate()
            node.wait(timeout=30)
    backend = "postgresql" if args.database_url else "sqlite"
    print(
        f"fanout: {args.subscribers} subscribers, {args.online} online devices, {backend}, {args.posts} posts"
    )
    for key in rows[0]:
        values = [r[key] for r in rows]
        low, high = min(values), max(values)
        print(f"  {key:>15}: median {statistics.median(values):10.2f}  (min {low:.2f}, max {high:.2f})")


if __name__ == "__main__":
    main()
