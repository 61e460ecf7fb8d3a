"""Benchmark calls and media across states: medians of ring, answer and hang-up latency and of a media
fetch through the member's home node, on two real nodes (RU-MOW, RU-SPE) on loopback.

A (RU-MOW) calls B (RU-SPE) in their private chat (hosted by RU-MOW): ring = A's POST → B's device has
``call.incoming`` (host → outbox → signed PUT → B's node → B's long poll); answer = B's accept at RU-SPE
(202) → A's device has ``call.joined`` (``call.op`` to the host and back); hang-up likewise to
``call.ended``. Then A shares a 1 MB document in the chat and B downloads it from RU-SPE: first fetch
(RU-SPE fetches it from RU-MOW, re-seals and stores it) and a cached read. Bounded by ``--rounds`` and
``--max-seconds``; SQLite by default, PostgreSQL with ``MSGFLEET_TEST_DATABASE_URL`` (own databases).

    python benchmarks/federation_calls.py [--rounds 20] [--max-seconds 120]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "messenger"))  # waits (fednodes')
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "messenger" / "federation"))
from fednodes import make_nodes, new_phone, stop_nodes  # the federation tests' node helpers

from messenger.client import MessengerClient, sms_file_reader

STATES = ["RU-MOW", "RU-SPE"]
MEDIA_BYTES = 1_000_000


async def _until(client: MessengerClient, kind: str, call_id: str, timeout: float = 20) -> float:
    """The monotonic time at which ``client``'s long poll returned ``kind`` of ``call_id``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for event in await client.sync(timeout=2):
            if event["kind"] == kind and event["data"].get("call_id") == call_id:
                return time.monotonic()
    raise TimeoutError(f"no {kind} of {call_id} within {timeout} s")


async def run(urls: dict[str, tuple[str, Path]], rounds: int, max_seconds: float) -> dict[str, list[float]]:
    (mow_url, mow_sms), (spe_url, spe_sms) = urls["RU-MOW"], urls["RU-SPE"]
    a = await MessengerClient.login(mow_url, new_phone(), sms_file_reader(mow_sms), device_name="a")
    b = await MessengerClient.login(spe_url, new_phone(), sms_file_reader(spe_sms), device_name="b")
    figures: dict[str, list[float]] = {k: [] for k in ("ring", "answer", "hangup", "fetch", "cached")}
    try:
        chat = await a.open_private(b.user_id)
        while not any(c["id"] == chat for c in await b.request("GET", "/v1/chats")):
            await asyncio.sleep(0.05)
        stop = time.monotonic() + max_seconds
        for _ in range(rounds):
            if time.monotonic() > stop:
                break
            t0 = time.monotonic()
            call_id = (await a.request("POST", "/v1/calls", json={"chat_id": chat}))["id"]
            figures["ring"].append(await _until(b, "call.incoming", call_id) - t0)
            t1 = time.monotonic()
            await b.http.post(f"/v1/calls/{call_id}/accept")
            figures["answer"].append(await _until(a, "call.joined", call_id) - t1)
            t2 = time.monotonic()
            await b.http.post(f"/v1/calls/{call_id}/hangup")
            figures["hangup"].append(await _until(a, "call.ended", call_id) - t2)

            data = b"%PDF-1.4\n" + os.urandom(MEDIA_BYTES)
            params = {"kind": "document", "chat_id": chat, "encrypted": "true"}  # chat media: opaque bytes
            media_id = (await a.http.post("/v1/media", params=params, content=data)).json()["id"]
            t3 = time.monotonic()
            got = await b.http.get(f"/v1/media/{media_id}", params={"chat_id": chat})
            figures["fetch"].append(time.monotonic() - t3)
            t4 = time.monotonic()
            again = await b.http.get(f"/v1/media/{media_id}")
            figures["cached"].append(time.monotonic() - t4)
            if got.content != data or again.content != data:
                raise RuntimeError("the media came back different")
    finally:
        await a.close()
        await b.close()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--max-seconds", type=float, default=120.0)
    args = parser.parse_args()
    nodes = make_nodes(Path(tempfile.mkdtemp(prefix="msgfleet-fedcalls-")), STATES)
    try:
        urls = {s: (nodes[s].url, nodes[s].sms_path) for s in STATES}
        figures = asyncio.run(run(urls, args.rounds, args.max_seconds))
    finally:
        stop_nodes(nodes)
    n = len(figures["ring"])
    labels = {
        "ring": "ring (A's POST → B has call.incoming)",
        "answer": "answer (B accepts at RU-SPE → A has call.joined)",
        "hangup": "hang-up (B at RU-SPE → A has call.ended)",
        "fetch": f"media {MEDIA_BYTES // 1000} kB, first fetch through B's home node",
        "cached": f"media {MEDIA_BYTES // 1000} kB, cached copy at B's home node",
    }
    print(f"calls and media across 2 states, {n} rounds, medians:")
    for key, label in labels.items():
        print(f"  {label}: {statistics.median(figures[key]) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
