"""Node CPU per request, for every request type of the mix, on SQLite and PostgreSQL (2 workers + Redis).

The node's own CPU (utime+stime of the node process and its workers, from /proc via psutil) over a run
of ``--requests`` requests of one type, minus the node's idle CPU over the same wall time, divided by
the number of requests; the median of ``--repeat`` runs, beside ``GET /healthz`` (the framework floor)
measured in the same process. ``--users`` signed-up users keep a WebSocket open throughout, so every
message is pushed to its recipients' sockets as in production. Wall-clock figures are printed beside it
but a shared machine moves them; the CPU per request stays steady.

    python benchmarks/request_costs.py [--users 20] [--requests 200] [--repeat 3] [--database-url URL]
        [--against ../main]  # also run another checkout's node, interleaved, and print the ratio
        [--py-spy DIR]   # also profile the node during the runs: DIR/<backend>.txt, collapsed stacks
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
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from node_send import BENCH_ENV, node_cpu_seconds
from websockets.asyncio.client import ClientConnection, connect

from messenger.client import MessengerClient, sms_file_reader
from messenger.launch import NodeProcess, scratch_database, start_node

ROOT = Path(__file__).resolve().parent.parent  # this checkout
IN_FLIGHT = 4  # requests in flight at once: enough to keep the node busy, too few to queue much
IDLE_SECONDS = 1.0
Call = Callable[[int], Awaitable[object]]


class Fixture:
    """Signed-up users with open sockets, their private chats, and one channel."""

    def __init__(self, node: NodeProcess, users: list[MessengerClient]):
        self.node, self.users = node, users
        self.sockets: list[ClientConnection] = []
        self.chats: list[str] = []
        self.signed_up: list[dict[str, Any]] = []  # logins of the sign-up runs, opened chats with
        self.drains: list[asyncio.Task[None]] = []
        self.phones = (f"+7991{n:07d}" for n in itertools.count(secrets.randbelow(10**6) * 10))
        self.ws_url = node.url.replace("http", "ws", 1) + "/v1/ws"

    async def open_sockets(self) -> None:
        for user in self.users:
            ws = await connect(self.ws_url, additional_headers={"Authorization": f"Bearer {user.token}"})
            await ws.recv()  # ready
            self.sockets.append(ws)
            self.drains.append(asyncio.create_task(_drain(ws)))

    async def close(self) -> None:
        for task in self.drains:
            task.cancel()
        for ws in self.sockets:
            with contextlib.suppress(Exception):
                await ws.close()
        for user in self.users:
            await user.close()


async def _drain(ws: ClientConnection) -> None:
    with contextlib.suppress(Exception):
        async for _ in ws:
            pass


def encrypted() -> dict[str, str]:
    """A 256-byte stand-in ciphertext with a fake Megolm session id (the node cannot tell it from a real
    one): one per message, whatever the chat's devices."""
    return {"ciphertext": base64.b64encode(os.urandom(256)).decode(), "session_id": "bench" + "A" * 38}


async def sign_up(fix: Fixture, http: httpx.AsyncClient) -> None:
    """The three requests of a sign-up: request a code, read it from the SMS sink, verify."""
    phone = next(fix.phones)
    (await http.post("/v1/auth/request-code", json={"phone": phone})).raise_for_status()
    code = await sms_file_reader(fix.node.sms_path)(phone)
    body = {"phone": phone, "code": code, "device_name": "bench", "platform": "python"}
    answer = await http.post("/v1/auth/verify", json=body)
    answer.raise_for_status()
    fix.signed_up.append(answer.json())


def request_types(
    fix: Fixture,
    http: httpx.AsyncClient,
    ws_senders: asyncio.Queue[tuple[ClientConnection, str, MessengerClient, MessengerClient]],
) -> dict[str, Call]:
    """label → ``call(i)`` making the i-th request of that type (and checking its answer)."""
    users, chats = fix.users, fix.chats
    ids = itertools.count(1)

    async def ok(response: Awaitable[httpx.Response]) -> None:
        (await response).raise_for_status()

    async def ws_send(i: int) -> None:
        ws, chat, sender, receiver = await ws_senders.get()  # one frame in flight per socket
        try:
            ref = next(ids)
            frame = {"type": "message.send", "chat_id": chat, "id": ref, "client_msg_id": f"w{ref}"}
            await ws.send(json.dumps({**frame, **encrypted()}))
            while (reply := json.loads(await ws.recv())).get("id") != ref or reply["type"] == "event":
                pass
            assert reply["type"] == "message.send.ok", reply
        finally:
            ws_senders.put_nowait((ws, chat, sender, receiver))

    async def open_chat(i: int) -> None:
        # The opener is a user the sign-up runs just made: opening an existing private chat is a read.
        opener, other = fix.signed_up.pop(), users[i % len(users)]
        body = {"kind": "private", "members": [other.user_id]}
        await ok(http.post("/v1/chats", json=body, headers={"Authorization": f"Bearer {opener['token']}"}))

    async def ws_connect(i: int) -> None:
        user = users[i % len(users)]
        async with connect(fix.ws_url, additional_headers={"Authorization": f"Bearer {user.token}"}) as ws:
            assert json.loads(await ws.recv())["type"] == "ready"

    def user_of(i: int) -> MessengerClient:
        return users[2 * (i % (len(users) // 2))]

    def chat_of(i: int) -> str:
        return chats[i % len(chats)]

    return {
        "GET /healthz": lambda i: ok(http.get("/healthz")),
        "POST /v1/chats/{id}/read": lambda i: ok(
            user_of(i).http.post(f"/v1/chats/{chat_of(i)}/read", json={"seq": 1})
        ),
        "GET /v1/chats": lambda i: ok(user_of(i).http.get("/v1/chats")),
        "chat history (limit 50)": lambda i: ok(
            user_of(i).http.get(f"/v1/chats/{chat_of(i)}/messages", params={"limit": 50})
        ),
        "GET /v1/channels": lambda i: ok(user_of(i).http.get("/v1/channels")),
        "GET /v1/chats/{id}/devices": lambda i: ok(user_of(i).http.get(f"/v1/chats/{chat_of(i)}/devices")),
        "message over HTTP (1 ciphertext, 2 sockets)": lambda i: ok(
            user_of(i).http.post(
                f"/v1/chats/{chat_of(i)}/messages",
                json={"client_msg_id": secrets.token_hex(8), **encrypted()},
            )
        ),
        "message.send over the WebSocket": ws_send,
        "sign-up (request-code + code + verify)": lambda i: sign_up(fix, http),
        "POST /v1/chats (open private chat)": open_chat,
        "WebSocket connect": ws_connect,
    }


async def login_new(fix: Fixture) -> MessengerClient:
    return await MessengerClient.login(fix.node.url, next(fix.phones), sms_file_reader(fix.node.sms_path))


async def idle_rate(node: NodeProcess) -> float:
    """The node's CPU seconds per second while nothing is asked of it (sweeps, timers)."""
    cpu, start = node_cpu_seconds(node), time.perf_counter()
    await asyncio.sleep(IDLE_SECONDS)
    return (node_cpu_seconds(node) - cpu) / (time.perf_counter() - start)


async def cost(node: NodeProcess, call: Call, count: int, idle: float) -> tuple[float, float]:
    """(ms of node CPU per request, idle subtracted; requests per wall-clock second)."""
    numbers = iter(range(count))

    async def lane() -> None:
        for i in numbers:
            await call(i)

    start, cpu = time.perf_counter(), node_cpu_seconds(node)
    await asyncio.gather(*(lane() for _ in range(IN_FLIGHT)))
    elapsed = time.perf_counter() - start
    used = node_cpu_seconds(node) - cpu - idle * elapsed
    return 1000 * max(used, 0.0) / count, count / elapsed


Prepared = tuple[Fixture, dict[str, Call], httpx.AsyncClient]


async def prepare(node: NodeProcess, users: int) -> Prepared:
    """Sign up ``users`` with open sockets and a chat per pair, a channel, a sender socket per lane."""
    fix = Fixture(node, [])
    fix.users = [await login_new(fix) for _ in range(users)]  # one phone range for the whole run
    for x, y in zip(fix.users[::2], fix.users[1::2], strict=True):
        fix.chats.append(await x.open_private(y.user_id))
        body = {"client_msg_id": "first", **encrypted()}
        await x.request("POST", f"/v1/chats/{fix.chats[-1]}/messages", json=body)  # something to read
    await fix.users[0].request("POST", "/v1/channels", json={"title": "bench"})
    await fix.open_sockets()
    senders: asyncio.Queue[tuple[ClientConnection, str, MessengerClient, MessengerClient]] = asyncio.Queue()
    for pair in range(min(IN_FLIGHT, len(fix.chats))):  # each lane posts over a socket of its own
        sender, receiver = fix.users[2 * pair], fix.users[2 * pair + 1]
        ws = await connect(fix.ws_url, additional_headers={"Authorization": f"Bearer {sender.token}"})
        await ws.recv()  # ready
        fix.sockets.append(ws)
        senders.put_nowait((ws, fix.chats[pair], sender, receiver))
    http = httpx.AsyncClient(base_url=node.url, timeout=30)
    calls = request_types(fix, http, senders)
    for call in calls.values():  # warm up every route (imports, statement caches)
        await call(0)
    return fix, calls, http


Results = dict[str, list[tuple[float, float]]]


async def run(nodes: list[NodeProcess], users: int, count: int, repeat: int) -> list[Results]:
    """Every request type on every node, interleaved (the nodes' order alternates between repeats), so
    that a busy spell of the machine falls on both alike."""
    prepared = [await prepare(node, users) for node in nodes]
    results: list[Results] = [{} for _ in nodes]
    for r in range(repeat):
        for label in prepared[0][1]:
            order = list(range(len(nodes)))
            for i in order if r % 2 == 0 else order[::-1]:
                idle = await idle_rate(nodes[i])
                results[i].setdefault(label, []).append(
                    await cost(nodes[i], prepared[i][1][label], count, idle)
                )
    for fix, _, http in prepared:
        await http.aclose()
        await fix.close()
    return results


@contextlib.contextmanager
def profiled(node: NodeProcess, out: Path | None) -> Any:
    """py-spy records the node (and its workers) while the block runs, into ``out`` (collapsed stacks)."""
    if out is None:
        yield
        return
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = [spy, "record", "--pid", str(node.process.pid), "--subprocesses", "--format", "raw"]
    recorder = subprocess.Popen([*cmd, "--rate", "200", "--output", str(out)], stdout=subprocess.DEVNULL)
    try:
        yield
    finally:
        recorder.send_signal(2)  # SIGINT: py-spy writes what it has and exits
        recorder.wait(60)


PACKAGES = (
    "sqlalchemy",
    "aiosqlite",
    "asyncpg",
    "fastapi",
    "starlette",
    "pydantic",
    "uvicorn",
    "websockets",
    "messenger",
    "redis",
    "asyncio",
    "json",
)


def print_profile(path: Path) -> None:
    """Share of samples per library: inclusive (anywhere on the stack) and as the leaf frame (py-spy
    records busy samples only; its frames read ``function (package/module.py:line)``)."""
    inclusive: dict[str, int] = dict.fromkeys(PACKAGES, 0)
    leaf: dict[str, int] = dict.fromkeys(PACKAGES, 0)
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit() or "process " not in stack:
            continue
        n, frames = int(count), stack.split(";")
        total += n
        for package in PACKAGES:
            if any(f"({package}/" in f for f in frames):
                inclusive[package] += n
        last = frames[-1]
        for package in PACKAGES:
            if f"({package}/" in last:
                leaf[package] += n
                break
    print(f"py-spy {path.name}: {total} busy samples; share inclusive / as leaf")
    for package in sorted(PACKAGES, key=lambda p: -inclusive[p]):
        share, own = (100 * n / max(total, 1) for n in (inclusive[package], leaf[package]))
        print(f"  {package:<12} {share:5.1f}%  {own:5.1f}%")


def bench(
    label: str,
    users: int,
    count: int,
    repeat: int,
    profile: Path | None = None,
    against: Path | None = None,
    **node_kwargs: Any,
) -> list[dict[str, float]]:
    """Medians per request type: of this checkout's node, and of ``against``'s (another checkout's
    ``messenger``, started the same way) when given."""
    trees = [None] if against is None else [None, against]
    drops = []
    try:
        with contextlib.ExitStack() as stack:
            nodes = []
            for tree in trees:
                kwargs = dict(node_kwargs)
                if kwargs.get("database_url"):
                    kwargs["database_url"], drop = scratch_database(kwargs["database_url"], "msgfleet_bench")
                    drops.append(drop)
                # Each node imports its own tree's ``messenger``: PYTHONSAFEPATH keeps the working directory
                # (``python -m`` puts it first) from shadowing PYTHONPATH, and the shared venv's editable
                # install points at one checkout, so this tree is named explicitly too.
                env = {**BENCH_ENV, "PYTHONSAFEPATH": "1", "PYTHONPATH": str((tree or ROOT).resolve())}
                tmp = stack.enter_context(tempfile.TemporaryDirectory())
                nodes.append(stack.enter_context(start_node(Path(tmp) / "node", env=env, **kwargs)))
            stack.enter_context(profiled(nodes[0], profile))
            results = asyncio.run(run(nodes, users, count, repeat))
    finally:
        for drop in drops:
            drop()
    if profile is not None:
        print_profile(profile)
    medians = [{k: statistics.median(ms for ms, _ in runs) for k, runs in r.items()} for r in results]
    print(f"\n{label}: node CPU per request (ms), median of {repeat} runs of {count} (idle subtracted)")
    heads = ["this", f"{against}", "this/that"] if against else ["ms CPU"]
    print(
        f"{'request':<44}"
        + "".join(f" {h[-12:]:>12}" for h in heads)
        + f" {'× healthz':>10} {'req/s wall':>11}"
    )
    for name, runs in results[0].items():
        rate = statistics.median(r for _, r in runs)
        cells = [m[name] for m in medians] + (
            [medians[0][name] / max(medians[1][name], 1e-9)] if against else []
        )
        floor = medians[0]["GET /healthz"]
        print(
            f"{name:<44}"
            + "".join(f" {c:>12.2f}" for c in cells)
            + (f" {medians[0][name] / floor:>10.1f}" if floor > 0 else f" {'-':>10}")
            + f" {rate:>11.0f}"
        )
    return medians


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=20, help="signed-up users with open sockets (even)")
    parser.add_argument("--requests", type=int, default=200, help="requests per type and run")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2, help="worker processes on PostgreSQL")
    parser.add_argument("--database-url", default=os.environ.get("MSGFLEET_TEST_DATABASE_URL"))
    parser.add_argument(
        "--redis-url", default=os.environ.get("MSGFLEET_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    )
    parser.add_argument("--py-spy", type=Path, help="directory for py-spy profiles of the node")
    parser.add_argument(
        "--against", type=Path, help="another checkout (e.g. a worktree of main): its node runs interleaved"
    )
    args = parser.parse_args()
    users = max(2, args.users - args.users % 2)
    spy = args.py_spy
    sqlite = bench(
        "SQLite, 1 worker", users, args.requests, args.repeat, spy and spy / "sqlite.txt", args.against
    )[0]
    if args.database_url:
        pg = bench(
            f"PostgreSQL, {args.workers} workers + Redis",
            users,
            args.requests,
            args.repeat,
            spy and spy / "postgresql.txt",
            args.against,
            database_url=args.database_url,
            redis_url=args.redis_url,
            workers=args.workers,
        )[0]
        print("\nPostgreSQL / SQLite per request:")
        for name in sqlite:
            print(f"{name:<44} {pg[name] / max(sqlite[name], 1e-9):>6.2f}×")


if __name__ == "__main__":
    main()
