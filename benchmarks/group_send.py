"""Benchmark posts into groups of 10, 100, 1,000 and 10,000 members: node CPU and bytes stored per message.

With Megolm a message is one ciphertext whatever the number of devices (issue 15). For each group size a
fresh node gets the members written straight into its database (one offline device each: signing up
10,000 users over the API would take longer than the benchmark), then one real device posts
``--messages`` messages of a realistic ciphertext size (opaque random bytes and a fake session id: the
node never opens them). Printed per size, medians of ``--repeat`` runs:

* node CPU per message: utime+stime of the node's processes from ``/proc`` (psutil) over the posting,
  minus the node's idle CPU rate (measured over ``IDLE_SECONDS`` before) times the posting's duration;
* bytes per message in the ``messages`` table (the ciphertext, stored once) and in the per-device event
  log (``device_events``: one ``message.new`` row per member device, the delivery queue).

    python benchmarks/group_send.py [--sizes 10,100,1000,10000] [--messages 20] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import os
import secrets
import statistics
import tempfile
import time
from pathlib import Path

from node_send import BENCH_ENV, node_cpu_seconds
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from messenger.client import MessengerClient, sms_file_reader
from messenger.launch import NodeProcess, scratch_database, start_node

IDLE_SECONDS = 2.0
CIPHERTEXT_BYTES = 240  # a short text message as Megolm ciphertext: ~100 B payload + MAC, signature, header


async def add_members(node: NodeProcess, chat_id: str, count: int) -> None:
    """``count`` users with one device each, members of ``chat_id`` (rows written directly)."""
    engine = create_async_engine(node.db_url)
    now = time.time()
    users = [(f"u{secrets.token_hex(8)}@RU-MOW", f"+7970{i:07d}") for i in range(count)]
    async with engine.begin() as conn:
        for start in range(0, count, 2000):
            part = users[start : start + 2000]
            await conn.execute(
                text("INSERT INTO users (id, phone, created_at) VALUES (:id, :phone, :t)"),
                [{"id": u, "phone": p, "t": now} for u, p in part],
            )
            await conn.execute(
                text(
                    "INSERT INTO devices (id, user_id, name, platform, token_hash, created_at, event_seq)"
                    " VALUES (:id, :user, 'bench', 'none', :hash, :t, 0)"
                ),
                [
                    {"id": f"d{u[1:17]}", "user": u, "hash": hashlib.sha256(u.encode()).hexdigest(), "t": now}
                    for u, _ in part
                ],
            )
            await conn.execute(
                text(
                    "INSERT INTO members (chat_id, user_id, role, joined_at, last_read_seq)"
                    " VALUES (:chat, :user, 'member', :t, 0)"
                ),
                [{"chat": chat_id, "user": u, "t": now} for u, _ in part],
            )
    await engine.dispose()


async def stored_bytes(node: NodeProcess, chat_id: str) -> tuple[float, float]:
    """Bytes of the chat's messages (ciphertext and ids) and of their events in the device log."""
    engine = create_async_engine(node.db_url)
    async with engine.connect() as conn:
        messages = (
            await conn.execute(
                text(
                    "SELECT coalesce(sum(length(ciphertext) + length(session_id) + length(id)"
                    " + length(client_msg_id) + length(sender_user_id) + length(sender_device_id) + 40), 0)"
                    " FROM messages WHERE chat_id = :c"
                ),
                {"c": chat_id},
            )
        ).scalar()
        events = (
            await conn.execute(
                text(
                    "SELECT coalesce(sum(length(payload) + length(device_id) + 40), 0) FROM device_events"
                    " WHERE kind = 'message.new' AND payload LIKE :like"
                ),
                {"like": f'%"chat_id": "{chat_id}"%'},
            )
        ).scalar()
    await engine.dispose()
    return float(messages or 0), float(events or 0)


async def run(node: NodeProcess, members: int, messages: int) -> dict[str, float]:
    read = sms_file_reader(node.sms_path)
    sender = await MessengerClient.login(node.url, f"+7990{secrets.randbelow(10**7):07d}", read)
    other = await MessengerClient.login(node.url, f"+7990{secrets.randbelow(10**7):07d}", read)
    chat = await sender.create_group([other.user_id], f"{members} members")
    await add_members(node, chat, members - 2)
    ciphertext = base64.b64encode(os.urandom(CIPHERTEXT_BYTES)).decode()
    session_id = base64.b64encode(os.urandom(32)).decode().rstrip("=")
    before = await stored_bytes(node, chat)
    idle_cpu = node_cpu_seconds(node)
    await asyncio.sleep(IDLE_SECONDS)  # the node's background CPU (sweeps, pings) per second, subtracted
    idle_rate = (node_cpu_seconds(node) - idle_cpu) / IDLE_SECONDS
    start, cpu = time.perf_counter(), node_cpu_seconds(node)
    for i in range(messages):
        body = {"client_msg_id": f"m{i}", "ciphertext": ciphertext, "session_id": session_id}
        response = await sender.http.post(f"/v1/chats/{chat}/messages", json=body)
        response.raise_for_status()
    elapsed, cpu = time.perf_counter() - start, node_cpu_seconds(node) - cpu
    after = await stored_bytes(node, chat)
    await sender.close()
    await other.close()
    return {
        "cpu_ms": 1000 * max(cpu - idle_rate * elapsed, 0.0) / messages,
        "message_bytes": (after[0] - before[0]) / messages,
        "event_bytes": (after[1] - before[1]) / messages,
        "seconds": elapsed,
    }


def bench_once(members: int, messages: int, node_kwargs: dict[str, object]) -> dict[str, float]:
    drop = None
    if node_kwargs.get("database_url"):
        node_kwargs["database_url"], drop = scratch_database(
            str(node_kwargs["database_url"]), "msgfleet_bench"
        )
    try:
        with (
            tempfile.TemporaryDirectory() as tmp,
            start_node(Path(tmp) / "node", env=BENCH_ENV, **node_kwargs) as node,  # type: ignore[arg-type]
        ):
            return asyncio.run(run(node, members, messages))
    finally:
        if drop:
            drop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,100,1000,10000", help="group sizes (members)")
    parser.add_argument("--messages", type=int, default=20, help="posts per run")
    parser.add_argument("--repeat", type=int, default=3, help="runs per size; medians are printed")
    parser.add_argument("--database-url", default=None, help="PostgreSQL instead of SQLite")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    kwargs: dict[str, object] = {"database_url": args.database_url} if args.database_url else {}
    print(f"group_send: {args.messages} posts per run, {args.repeat} runs per size; load {os.getloadavg()}")
    print(f"{'members':>8} {'cpu ms/msg':>11} {'message B/msg':>14} {'event log B/msg':>16}")
    rows = {}
    for size in sizes:
        runs = [bench_once(size, args.messages, dict(kwargs)) for _ in range(args.repeat)]
        rows[size] = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        r = rows[size]
        print(
            f"{size:>8} {r['cpu_ms']:>11.2f} {r['message_bytes']:>14.0f} {r['event_bytes']:>16.0f}",
            flush=True,
        )
    low, high = rows[sizes[0]], rows[sizes[-1]]
    for key, what in (("cpu_ms", "cpu per message"), ("message_bytes", "message bytes per message")):
        ratio = high[key] / max(low[key], 1e-9)
        verdict = "flat (within 2x)" if ratio <= 2 else "NOT flat"
        print(f"{what}: {sizes[-1]} vs {sizes[0]} members = {ratio:.1f}x, {verdict}")


if __name__ == "__main__":
    main()
