"""Benchmark call signalling on one node: N pairs place, answer, signal and hang up direct calls at once.

Prints medians and p95 of, per call: ring (``POST /v1/calls`` → ``call.incoming`` on the callee's
socket), answer (``accept`` → ``call.joined`` on the caller's socket), signal (a ``call.signal``
WebSocket frame → the event on the other socket) and hang-up (→ ``call.ended``), plus calls/s, on
SQLite and — with ``--database-url`` or MSGFLEET_TEST_DATABASE_URL — PostgreSQL with 2 workers + Redis.
Bounded: ``--rounds`` calls per pair and ``--max-seconds`` of wall time.

    python benchmarks/calls.py [--pairs 10] [--rounds 5] [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from messenger.client import MessengerClient, sms_file_reader
from messenger.launch import NodeProcess, scratch_database, start_node

BENCH_ENV = {"MSGFLEET_CODE_RATE_PER_IP": "0", "MSGFLEET_LOG_LEVEL": "warning"}
STEPS = ("ring", "answer", "signal", "hangup")


async def _socket(node: NodeProcess, client: MessengerClient) -> ClientConnection:
    url = node.url.replace("http", "ws", 1) + "/v1/ws"
    ws = await connect(url, additional_headers={"Authorization": f"Bearer {client.token}"})
    await ws.recv()  # ready
    return ws


async def _until(ws: ClientConnection, kind: str, call_id: str) -> None:
    """Read frames until the event ``kind`` of ``call_id`` (other frames are skipped)."""
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 30))
        if frame.get("kind") == kind and frame["data"].get("call_id") == call_id:
            return


async def _one_call(
    caller: MessengerClient,
    callee: MessengerClient,
    chat: str,
    a_ws: ClientConnection,
    b_ws: ClientConnection,
) -> dict[str, float]:
    times: dict[str, float] = {}
    t = time.perf_counter()
    response = await caller.http.post("/v1/calls", json={"chat_id": chat})
    response.raise_for_status()
    call_id = response.json()["id"]
    await _until(b_ws, "call.incoming", call_id)
    times["ring"] = time.perf_counter() - t
    t = time.perf_counter()
    (await callee.http.post(f"/v1/calls/{call_id}/accept")).raise_for_status()
    await _until(a_ws, "call.joined", call_id)
    times["answer"] = time.perf_counter() - t
    t = time.perf_counter()
    sdp = {
        "type": "offer",
        "sdp": "v=0\r\n" + "a=candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host\r\n" * 8,
    }
    await a_ws.send(json.dumps({"type": "call.signal", "call_id": call_id, "data": sdp}))
    await _until(b_ws, "call.signal", call_id)
    times["signal"] = time.perf_counter() - t
    t = time.perf_counter()
    (await caller.http.post(f"/v1/calls/{call_id}/hangup")).raise_for_status()
    await _until(b_ws, "call.ended", call_id)
    times["hangup"] = time.perf_counter() - t
    return times


async def run(node: NodeProcess, pairs: int, rounds: int, max_seconds: float) -> dict[str, Any]:
    read = sms_file_reader(node.sms_path)
    users = [
        await MessengerClient.login(node.url, f"+7991{secrets.randbelow(10**7):07d}", read)
        for _ in range(2 * pairs)
    ]
    couples = [(users[2 * i], users[2 * i + 1]) for i in range(pairs)]
    chats = [await a.open_private(b.user_id) for a, b in couples]
    sockets = [(await _socket(node, a), await _socket(node, b)) for a, b in couples]
    samples: list[dict[str, float]] = []
    deadline = time.monotonic() + max_seconds

    async def pair_loop(i: int) -> None:
        (a, b), chat, (a_ws, b_ws) = couples[i], chats[i], sockets[i]
        for _ in range(rounds):
            if time.monotonic() > deadline:
                return
            samples.append(await _one_call(a, b, chat, a_ws, b_ws))

    start = time.perf_counter()
    await asyncio.gather(*(pair_loop(i) for i in range(pairs)))
    elapsed = time.perf_counter() - start
    for a_ws, b_ws in sockets:
        await a_ws.close()
        await b_ws.close()
    for user in users:
        await user.close()
    return {"calls": len(samples), "seconds": elapsed, "samples": samples}


def _summary(values: list[float]) -> str:
    p95 = statistics.quantiles(values, n=20, method="inclusive")[18] if len(values) > 1 else values[0]
    return f"p50 {1000 * statistics.median(values):6.1f} ms  p95 {1000 * p95:6.1f} ms"


def bench(label: str, pairs: int, rounds: int, max_seconds: float, **node_kwargs: Any) -> None:
    drop = None
    if node_kwargs.get("database_url"):
        node_kwargs["database_url"], drop = scratch_database(
            node_kwargs["database_url"], "msgfleet_bench_calls"
        )
    try:
        with (
            tempfile.TemporaryDirectory() as tmp,
            start_node(Path(tmp) / "node", env=BENCH_ENV, **node_kwargs) as node,
        ):
            result = asyncio.run(run(node, pairs, rounds, max_seconds))
    finally:
        if drop:
            drop()
    calls, seconds = result["calls"], result["seconds"]
    print(f"{label}: {calls} calls in {seconds:.2f} s = {calls / seconds:.1f} calls/s", flush=True)
    for step in STEPS:
        print(f"  {step:<7} {_summary([s[step] for s in result['samples']])}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--max-seconds", type=float, default=60)
    parser.add_argument("--database-url", default=os.environ.get("MSGFLEET_TEST_DATABASE_URL"))
    parser.add_argument(
        "--redis-url", default=os.environ.get("MSGFLEET_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    )
    args = parser.parse_args()
    print(f"calls: {args.pairs} caller/callee pairs × {args.rounds} direct calls each, loopback")
    bench("SQLite, 1 worker", args.pairs, args.rounds, args.max_seconds)
    if args.database_url:
        bench(
            "PostgreSQL, 2 workers + Redis",
            args.pairs,
            args.rounds,
            args.max_seconds,
            database_url=args.database_url,
            redis_url=args.redis_url,
            workers=2,
        )


if __name__ == "__main__":
    main()
