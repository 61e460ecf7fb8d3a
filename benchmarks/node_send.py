"""Benchmark one node: N sender devices post into private chats, receiver devices read WebSockets.

Prints messages/s delivered and send→receive latency percentiles (p50/p95/p99), on SQLite and — when
``--database-url`` or MSGFLEET_TEST_DATABASE_URL is given — on PostgreSQL (a scratch database that is
dropped afterwards). Bounded: ``--messages`` in total and ``--max-seconds`` of wall time.

A message is 256 random bytes (base64) with a fake Megolm session id instead of a real Megolm
ciphertext: the node cannot tell the difference, and the load generator shares the CPU with the node
on loopback.

    python benchmarks/node_send.py [--senders 20] [--messages 4000] [--repeat 3] [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import os
import secrets
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from websockets.asyncio.client import connect

from messenger.client import MessengerClient, sms_file_reader
from messenger.launch import NodeProcess, scratch_database, start_node

# One client address signs up every user; the JSON log stays quiet so it does not cost throughput.
BENCH_ENV = {"MSGFLEET_CODE_RATE_PER_IP": "0", "MSGFLEET_LOG_LEVEL": "warning"}
FAKE_SESSION = "bench" + "A" * 38  # the length of a Megolm session id (base64 of 32 bytes)


def node_cpu_seconds(node: NodeProcess) -> float:
    """User+system CPU of the node process and its workers (psutil), to report CPU per message: on a
    shared machine wall-clock rates swing with other load, CPU cost per message much less."""
    import psutil

    root = psutil.Process(node.process.pid)
    total = 0.0
    for proc in [root, *root.children(recursive=True)]:
        try:
            times = proc.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


async def run(node: NodeProcess, senders: int, messages: int, max_seconds: float) -> dict[str, float]:
    read = sms_file_reader(node.sms_path)
    users = [
        await MessengerClient.login(node.url, f"+7990{secrets.randbelow(10**7):07d}", read)
        for _ in range(2 * senders)
    ]
    pairs = [(users[2 * i], users[2 * i + 1]) for i in range(senders)]
    chats = [await a.open_private(b.user_id) for a, b in pairs]
    sent_at: dict[str, float] = {}
    latencies: list[float] = []
    per_sender = messages // senders
    total = per_sender * senders
    done = asyncio.Event()
    deadline = time.monotonic() + max_seconds

    async def receive(client: MessengerClient) -> None:
        url = node.url.replace("http", "ws", 1) + "/v1/ws"
        async with connect(url, additional_headers={"Authorization": f"Bearer {client.token}"}) as ws:
            await ws.recv()  # ready
            ready.release()
            while len(latencies) < total:
                frame = await ws.recv()
                now = time.perf_counter()
                marker = frame.find('"client_msg_id": "') if isinstance(frame, str) else -1
                if marker >= 0:
                    msg_id = frame[marker + 18 : frame.index('"', marker + 18)]
                    latencies.append(now - sent_at.pop(msg_id))
                    if len(latencies) == total:
                        done.set()

    async def send(sender: MessengerClient, receiver: MessengerClient, chat: str) -> None:
        ciphertext = base64.b64encode(os.urandom(256)).decode()
        body = {"client_msg_id": "", "ciphertext": ciphertext, "session_id": FAKE_SESSION}
        for i in range(per_sender):
            if time.monotonic() > deadline:
                return
            msg_id = f"{sender.device_id}-{i}"
            body["client_msg_id"] = msg_id
            sent_at[msg_id] = time.perf_counter()
            response = await sender.http.post(f"/v1/chats/{chat}/messages", json=body)
            response.raise_for_status()

    ready = asyncio.Semaphore(0)
    readers = [asyncio.create_task(receive(b)) for _, b in pairs]
    for _ in pairs:
        await ready.acquire()
    start, cpu_start = time.perf_counter(), node_cpu_seconds(node)
    await asyncio.gather(*(send(a, b, c) for (a, b), c in zip(pairs, chats, strict=True)))
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(done.wait(), max(1.0, deadline - time.monotonic() + 5))
    elapsed, cpu = time.perf_counter() - start, node_cpu_seconds(node) - cpu_start
    for task in readers:
        task.cancel()
    for user in users:
        await user.close()
    received = len(latencies)
    return {
        "cpu_ms": 1000 * cpu / max(received, 1),
        "delivered": received,
        "seconds": elapsed,
        "rate": received / elapsed,
        "p50_ms": 1000 * percentile(latencies, 50),
        "p95_ms": 1000 * percentile(latencies, 95),
        "p99_ms": 1000 * percentile(latencies, 99),
    }


def bench(
    label: str, senders: int, messages: int, max_seconds: float, repeat: int = 1, **node_kwargs: Any
) -> None:
    """Run ``repeat`` times (a fresh node and database each) and print each run, then the medians."""
    runs = []
    for _ in range(repeat):
        runs.append(bench_once(senders, messages, max_seconds, dict(node_kwargs)))
        show(label, runs[-1])
    if repeat > 1:
        show(f"{label} (median of {repeat})", {k: statistics.median(r[k] for r in runs) for k in runs[0]})


def bench_once(
    senders: int, messages: int, max_seconds: float, node_kwargs: dict[str, Any]
) -> dict[str, float]:
    drop = None
    if node_kwargs.get("database_url"):
        node_kwargs["database_url"], drop = scratch_database(node_kwargs["database_url"], "msgfleet_bench")
    try:
        with (
            tempfile.TemporaryDirectory() as tmp,
            start_node(Path(tmp) / "node", env=BENCH_ENV, **node_kwargs) as node,
        ):
            return asyncio.run(run(node, senders, messages, max_seconds))
    finally:
        if drop:
            drop()


def show(label: str, r: dict[str, float]) -> None:
    print(
        f"{label:<34} {r['delivered']:>6.0f} msgs in {r['seconds']:6.2f} s ="
        f" {r['rate']:7.0f} msg/s delivered;"
        f" latency p50 {r['p50_ms']:6.1f} ms  p95 {r['p95_ms']:6.1f} ms  p99 {r['p99_ms']:6.1f} ms;"
        f" node CPU {r['cpu_ms']:.2f} ms/msg (≈ {1000 / r['cpu_ms']:.0f} msg/s per core)",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--senders", type=int, default=20)
    parser.add_argument("--messages", type=int, default=4000)
    parser.add_argument("--max-seconds", type=float, default=60)
    parser.add_argument("--workers", type=int, default=2, help="worker processes on PostgreSQL")
    parser.add_argument("--repeat", type=int, default=1, help="runs per database; medians are printed too")
    parser.add_argument("--database-url", default=os.environ.get("MSGFLEET_TEST_DATABASE_URL"))
    parser.add_argument(
        "--redis-url", default=os.environ.get("MSGFLEET_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    )
    args = parser.parse_args()
    print(
        f"node_send: {args.senders} senders → {args.senders} receiver sockets,"
        f" {args.messages} messages, loopback"
    )
    bench("SQLite, 1 worker", args.senders, args.messages, args.max_seconds, args.repeat)
    if args.database_url:
        bench(
            f"PostgreSQL, {args.workers} workers + Redis",
            args.senders,
            args.messages,
            args.max_seconds,
            args.repeat,
            database_url=args.database_url,
            redis_url=args.redis_url,
            workers=args.workers,
        )


if __name__ == "__main__":
    main()
