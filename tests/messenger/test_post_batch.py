"""Group commit on the send path (``messenger.services.postbatch``): a burst of posts shares transactions,
yet every post gets its own answer, sequences and cursors stay gapless, and a failed batch loses nothing.
Sending over the WebSocket (``message.send``) takes the same path."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from messenger.client import MessengerClient
from messenger.db.engine import make_engine, make_sessionmaker
from messenger.db.migrate import upgrade
from messenger.errors import Unauthorized
from messenger.launch import NodeProcess
from messenger.services.postbatch import Post, PostAlone, PostBatcher
from messenger.settings import Settings

Signup = Callable[..., Awaitable[MessengerClient]]


def _batches(metrics: str) -> tuple[float, float]:
    """(transactions, posts) of the send path so far, summed over workers."""
    count = sum(float(v) for v in re.findall(r"^msgfleet_post_batch_size_count\S* (\S+)$", metrics, re.M))
    total = sum(float(v) for v in re.findall(r"^msgfleet_post_batch_size_sum\S* (\S+)$", metrics, re.M))
    return count, total


async def _post(client: MessengerClient, chat: str, body: dict[str, Any], token: str | None = None) -> Any:
    headers = {"Authorization": f"Bearer {token or client.token}"}
    return await client.http.post(f"/v1/chats/{chat}/messages", json=body, headers=headers)


def _body(client_msg_id: str, **extra: Any) -> dict[str, Any]:
    """A post with an opaque stand-in ciphertext: the node never opens one."""
    return {"client_msg_id": client_msg_id, "ciphertext": f"c-{client_msg_id}", "session_id": "s1", **extra}


async def test_a_burst_shares_transactions_and_each_post_gets_its_own_answer(
    signup: Signup, node: NodeProcess
) -> None:
    alice, bob, carol, dave = [await signup() for _ in range(4)]
    group = await alice.create_group([bob.user_id, carol.user_id], "burst")
    first = await _post(alice, group, _body("stored"))
    assert first.status_code == 201
    async with httpx.AsyncClient(base_url=node.url, timeout=60) as probe:
        before = _batches((await probe.get("/metrics")).text)
    async with carol.socket(resume=False) as ws:
        good = [_post(s, group, _body(f"{s.device_id}-{i}")) for i in range(20) for s in (alice, bob)]
        odd = [
            _post(alice, group, _body("x"), token="not-a-token"),  # 401
            _post(dave, group, _body("y")),  # 404: not a member
            _post(alice, group, _body("z", ciphertext="x" * 70_000)),  # 400: over max_ciphertext_bytes
            _post(alice, group, _body("r", reply_to=10_000)),  # 400: no such message
            _post(alice, group, _body("stored")),  # retry of a stored message: 200
            _post(alice, group, _body("twice")),  # the same post twice in flight:
            _post(alice, group, _body("twice")),  # one 201, one 200, one message
        ]
        replies = await asyncio.gather(*good, *odd)
        fresh = 40 + 1
        frames = [await ws.next("message.new") for _ in range(fresh)]
        with pytest.raises(TimeoutError):
            await ws.next("message.new", timeout=0.5)
    statuses = [r.status_code for r in replies]
    assert statuses[:40] == [201] * 40
    assert statuses[40:45] == [401, 404, 400, 400, 200]
    assert sorted(statuses[45:]) == [200, 201]
    assert all("error" in r.json() for r in replies[40:44])
    assert replies[44].json()["id"] == first.json()["id"] and replies[44].json()["seq"] == 1
    assert replies[45].json()["id"] == replies[46].json()["id"]
    seqs = sorted(r.json()["seq"] for r in replies if r.status_code == 201)
    assert seqs == list(range(2, 2 + fresh))  # gapless: refused posts took no sequence number
    cursors = [f["cursor"] for f in frames]
    assert cursors == list(range(cursors[0], cursors[0] + fresh))  # carol's log is gapless and in order
    assert sorted(f["data"]["seq"] for f in frames) == seqs
    assert all(f["data"]["ciphertext"] == f"c-{f['data']['client_msg_id']}" for f in frames)  # one for all
    async with httpx.AsyncClient(base_url=node.url, timeout=60) as probe:
        after = _batches((await probe.get("/metrics")).text)
    transactions, posts = after[0] - before[0], after[1] - before[1]
    assert posts == fresh  # what was stored: not the retries answered, nor the posts refused
    assert transactions < posts  # some transactions carried several posts


async def test_messages_can_be_sent_over_the_websocket(signup: Signup) -> None:
    alice, bob = await signup(), await signup()
    chat = await alice.open_private(bob.user_id)
    async with alice.socket() as mine, bob.socket() as theirs:
        assert mine.conn is not None

        async def ask(frame: dict[str, Any]) -> dict[str, Any]:
            assert mine.conn is not None
            await mine.conn.send(json.dumps(frame))
            while True:
                reply = json.loads(await asyncio.wait_for(mine.conn.recv(), 10))
                if reply.get("id") == frame.get("id"):
                    return dict(reply)

        send = {"type": "message.send", "chat_id": chat, **_body("w1", reply_to=None)}
        ok = await ask({**send, "id": 1})
        assert ok["type"] == "message.send.ok" and ok["status"] == 201 and ok["seq"] == 1
        event = await theirs.next("message.new")
        assert event["data"]["id"] == ok["message_id"] and event["data"]["sender_device"] == alice.device_id
        again = await ask({**send, "id": 2})
        assert (again["status"], again["message_id"]) == (200, ok["message_id"])
        big = await ask({**send, "client_msg_id": "w2", "ciphertext": "x" * 70_000, "id": 3})
        assert (big["type"], big["error"], big["status"]) == ("error", "ciphertext_too_large", 400)
        bad = await ask({"type": "message.send", "chat_id": chat, "id": 4})
        assert (bad["type"], bad["error"], bad["status"]) == ("error", "bad_frame", 422)
        stranger = await ask({**send, "chat_id": "c" + "0" * 32, "client_msg_id": "w3", "id": 5})
        assert (stranger["error"], stranger["status"]) == ("chat_not_found", 404)


SEED = [
    "INSERT INTO users (id, phone, created_at) VALUES"
    " ('ua@RU-MOW', '+79000000001', 0), ('ub@RU-MOW', '+79000000002', 0)",
    "INSERT INTO devices (id, user_id, name, platform, token_hash, created_at, event_seq) VALUES"
    " ('da1', 'ua@RU-MOW', 'n', 'p', 'hash-a', 0, 0), ('db1', 'ub@RU-MOW', 'n', 'p', 'hash-b', 0, 0)",
    "INSERT INTO chats (id, kind, created_by, created_at, last_seq) VALUES"
    " ('c1', 'private', 'ua@RU-MOW', 0, 0)",
    "INSERT INTO members (chat_id, user_id, role, joined_at, last_read_seq) VALUES"
    " ('c1', 'ua@RU-MOW', 'member', 0, 0), ('c1', 'ub@RU-MOW', 'member', 0, 0)",
]


async def _seeded_batcher(tmp_path: Path) -> tuple[PostBatcher, Any]:
    """A batcher on its own migrated SQLite database: chat c1 of users ua and ub, devices da1 and db1."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'batch.db'}"
    await asyncio.to_thread(upgrade, url)
    engine = make_engine(url)
    async with engine.begin() as conn:
        for statement in SEED:
            await conn.execute(text(statement))
    batcher = PostBatcher(
        make_sessionmaker(engine), Settings(state="RU-MOW", data_dir=tmp_path, database_url=url)
    )
    batcher.start()
    return batcher, engine


async def test_a_failed_batch_hands_its_posts_back_and_stores_nothing(tmp_path: Path) -> None:
    batcher, engine = await _seeded_batcher(tmp_path)
    try:
        async with engine.begin() as conn:  # a real failure inside the batch's transaction
            await conn.execute(text("DROP TABLE device_events"))
        posts = [Post("c1", f"m{i}", None, "x", "s1", device_id="da1") for i in range(3)]
        bad_token = Post("c1", "t", None, "x", "s1", token_hash="unknown")
        results = await asyncio.gather(
            *(batcher.submit(p) for p in [*posts, bad_token]), return_exceptions=True
        )
        assert [type(r) for r in results] == [PostAlone, PostAlone, PostAlone, Unauthorized]
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT count(*) FROM messages"))).scalar() == 0
            assert (await conn.execute(text("SELECT last_seq FROM chats"))).scalar() == 0
    finally:
        await batcher.stop()
        await engine.dispose()


async def test_posts_after_stop_are_handed_back(tmp_path: Path) -> None:
    batcher, engine = await _seeded_batcher(tmp_path)
    try:
        stored = await batcher.submit(Post("c1", "m1", None, "x", "s1", device_id="da1"))
        assert (stored.seq, stored.created) == (1, True)
        await batcher.stop()
        with pytest.raises(PostAlone):
            await batcher.submit(Post("c1", "m2", None, "x", "s1", device_id="da1"))
    finally:
        await engine.dispose()


async def test_the_reference_client_sends_over_its_socket_and_keeps_events(signup: Signup) -> None:
    alice, bob = await signup(), await signup()
    chat = await alice.open_private(bob.user_id)
    async with alice.socket(resume=False) as mine, bob.socket(resume=False) as theirs:
        first = await alice.send(chat, "over the socket", via=mine)
        assert await bob.decrypt((await theirs.next("message.new"))["data"]) == "over the socket"
        laptop = await signup(phone=bob.phone, device_name="laptop")  # gets the room key with the next send
        second = await alice.send(chat, "to both of bob's devices", via=mine)
        assert second["seq"] == first["seq"] + 1
        assert await bob.decrypt((await theirs.next("message.new"))["data"]) == "to both of bob's devices"
        # the sender's own device gets the message too: that event came while the socket waited for the
        # reply, and is still delivered, first and in order
        own = await mine.next(timeout=60)
        assert (own["kind"], own["data"]["seq"]) == ("message.new", first["seq"])
        assert await alice.decrypt(own["data"]) == "over the socket"
    events = await laptop.sync()
    texts = [await laptop.decrypt(e["data"]) for e in events if e["kind"] == "message.new"]
    assert texts == ["to both of bob's devices"]
