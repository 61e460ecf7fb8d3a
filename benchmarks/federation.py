"""Benchmark federation: cross-state messages/s and send→receive latency for 2 and 3 states on loopback,
with the single-node figure (sender and receiver on the same node) measured the same way beside them.

Each state runs one node of the local fleet (``loadtests.fleet.Fleet``, SQLite by default, one
PostgreSQL database per state with ``--database-url``). Sender users post into private chats whose
receiver is homed in another state (every ordered pair of states, chats hosted by the sender's state);
receivers read their home node's WebSocket. A message crosses: POST at the sender's node → outbox in
the same transaction → signed PUT to the receiver's node → applied → WebSocket. Bounded by
``--messages`` per run and ``--max-seconds``; ``--runs`` repetitions, the median is printed.

A message is 256 random bytes (base64) with a fake session id instead of a Megolm ciphertext (the nodes
cannot tell).

    python benchmarks/federation.py [--senders 12] [--messages 600] [--runs 3] [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import itertools
import json
import os
import secrets
import statistics
import tempfile
import time
from pathlib import Path

from websockets.asyncio.client import connect

from loadtests.fleet import Fleet
from loadtests.run import LOADTEST_NODE_ENV
from messenger.client import MessengerClient, sms_file_reader

STATES = ["RU-MOW", "RU-SPE", "RU-NVS"]
NODE_ENV = {**LOADTEST_NODE_ENV, "MSGFLEET_LOG_LEVEL": "warning"}


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


async def login(fleet: Fleet, state: str) -> MessengerClient:
    node = next(n for n in fleet.nodes if n.state == state)
    reader = sms_file_reader(Path(node.data_dir) / "sms.jsonl")
    return await MessengerClient.login(node.url, f"+7990{secrets.randbelow(10**7):07d}", reader)


async def one_run(
    fleet: Fleet, pairs: list[tuple[str, str]], senders: int, messages: int, max_s: float
) -> dict[str, float]:
    """``senders`` chats spread over the (sender state, receiver state) ``pairs``: rate and latency."""
    routes = list(itertools.islice(itertools.cycle(pairs), senders))
    users = [(await login(fleet, s), await login(fleet, r)) for s, r in routes]
    chats = [await a.open_private(b.user_id) for a, b in users]
    await asyncio.sleep(1.0)  # replicas of the new chats reach the receivers' nodes
    per_sender = messages // senders
    total = per_sender * senders
    sent_at: dict[str, float] = {}
    latencies: list[float] = []
    done, ready = asyncio.Event(), asyncio.Semaphore(0)
    deadline = time.monotonic() + max_s

    async def receive(client: MessengerClient) -> None:
        url = client.base_url.replace("http", "ws", 1) + "/v1/ws"
        async with connect(url, additional_headers={"Authorization": f"Bearer {client.token}"}) as ws:
            await ws.recv()
            ready.release()
            while True:
                frame = json.loads(await ws.recv())
                now = time.perf_counter()
                if frame.get("kind") == "message.new":
                    latencies.append(now - sent_at.pop(frame["data"]["client_msg_id"]))
                    if len(latencies) == total:
                        done.set()

    async def send(sender: MessengerClient, receiver: MessengerClient, chat: str) -> None:
        ciphertext = base64.b64encode(os.urandom(256)).decode()  # stand-in Megolm ciphertext
        for i in range(per_sender):
            if time.monotonic() > deadline:
                return
            msg_id = f"{sender.device_id}-{i}"
            sent_at[msg_id] = time.perf_counter()
            body = {"client_msg_id": msg_id, "ciphertext": ciphertext, "session_id": "bench" + "A" * 38}
            (await sender.http.post(f"/v1/chats/{chat}/messages", json=body)).raise_for_status()

    readers = [asyncio.create_task(receive(b)) for _, b in users]
    for _ in users:
        await ready.acquire()
    start = time.perf_counter()
    await asyncio.gather(*(send(a, b, c) for (a, b), c in zip(users, chats, strict=True)))
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(done.wait(), max(1.0, deadline - time.monotonic() + 10))
    elapsed = time.perf_counter() - start
    for task in readers:
        task.cancel()
    for a, b in users:
        await a.close()
        await b.close()
    return {
        "delivered": len(latencies),
        "sent": total,
        "rate": len(latencies) / elapsed,
        "p50_ms": 1000 * percentile(latencies, 50),
        "p95_ms": 1000 * percentile(latencies, 95),
    }


def bench(label: str, states: list[str], args: argparse.Namespace) -> None:
    pairs = [(s, r) for s in states for r in states if s != r] or [(states[0], states[0])]
    with tempfile.TemporaryDirectory() as tmp:
        fleet = Fleet(
            states,
            Path(tmp) / "fleet",
            database_url=args.database_url,
            database_prefix=f"msgfleet_fedbench_{secrets.token_hex(4)}",
            drop_databases=True,
            env=NODE_ENV,
        )
        with fleet:
            runs = [
                asyncio.run(one_run(fleet, pairs, args.senders, args.messages, args.max_seconds))
                for _ in range(args.runs)
            ]
    med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    lost = sum(r["sent"] - r["delivered"] for r in runs)
    print(
        f"{label:<28} {med['rate']:7.0f} msg/s delivered;  send→receive p50 {med['p50_ms']:6.1f} ms"
        f"  p95 {med['p95_ms']:6.1f} ms  (median of {len(runs)} runs; {lost} not delivered in time)",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--senders", type=int, default=12, help="concurrent sender→receiver chats")
    parser.add_argument("--messages", type=int, default=600, help="messages per run")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--max-seconds", type=float, default=60, help="sending time limit per run")
    parser.add_argument("--database-url", default=os.environ.get("MSGFLEET_TEST_DATABASE_URL"))
    args = parser.parse_args()
    backend = "PostgreSQL" if args.database_url else "SQLite"
    print(f"federation: {args.senders} chats, {args.messages} messages per run, {backend}, loopback")
    bench("single node (same state)", STATES[:1], args)
    bench("2 states, cross-state", STATES[:2], args)
    bench("3 states, cross-state", STATES, args)


if __name__ == "__main__":
    main()
