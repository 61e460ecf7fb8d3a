"""Chats and messages between real devices: delivery, fan-out, resume with cursor, edits, receipts."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from messenger.client import ApiFailure, MessengerClient

Signup = Callable[..., Awaitable[MessengerClient]]


async def _pair(signup: Signup) -> tuple[MessengerClient, MessengerClient, str]:
    alice, bob = await signup(), await signup()
    return alice, bob, await alice.open_private(bob.user_id)


async def test_message_reaches_recipient_socket_decrypted(signup: Signup) -> None:
    alice, bob, chat = await _pair(signup)
    async with bob.socket() as ws:
        sent = await alice.send(chat, "hello bob")
        event = await ws.next("message.new")
    assert event["kind"] == "message.new"
    assert event["data"]["seq"] == sent["seq"] == 1
    assert event["data"]["sender"] == alice.user_id
    assert await bob.decrypt(event["data"]) == "hello bob"


async def test_private_chat_is_unique_per_pair(signup: Signup) -> None:
    alice, bob, chat = await _pair(signup)
    assert await bob.open_private(alice.user_id) == chat
    assert await alice.open_private(bob.user_id) == chat


async def test_other_devices_of_sender_and_recipient_get_the_message(signup: Signup) -> None:
    alice, bob, chat = await _pair(signup)
    alice_phone = await signup(phone=alice.phone, device_name="tablet")
    bob_laptop = await signup(phone=bob.phone, device_name="laptop")
    sockets = [alice_phone.socket(), bob.socket(), bob_laptop.socket()]
    async with sockets[0] as s0, sockets[1] as s1, sockets[2] as s2:
        await alice.send(chat, "to every device")
        events = await asyncio.gather(s0.next("message.new"), s1.next("message.new"), s2.next("message.new"))
    readers = [alice_phone, bob, bob_laptop]
    texts = [await reader.decrypt(e["data"]) for reader, e in zip(readers, events, strict=True)]
    assert texts == ["to every device"] * 3


async def test_reconnect_with_cursor_gets_missed_messages_once_in_order(signup: Signup) -> None:
    alice, bob, chat = await _pair(signup)
    async with bob.socket() as ws:
        await alice.send(chat, "m1")
        await ws.next("message.new")
    missed = [f"missed {i}" for i in range(20)]
    for text in missed:
        await alice.send(chat, text)
    got: list[str] = []
    async with bob.socket() as ws:  # resumes after bob.cursor
        for _ in missed:
            got.append(await bob.decrypt((await ws.next("message.new"))["data"]))
        with pytest.raises(TimeoutError):
            await ws.next("message.new", timeout=0.5)
        await alice.send(chat, "live")
        got.append(await bob.decrypt((await ws.next("message.new"))["data"]))
    assert got == [*missed, "live"]


async def test_concurrent_senders_each_message_delivered_exactly_once(signup: Signup) -> None:
    alice, bob, carol = await signup(), await signup(), await signup()
    group = await alice.create_group([bob.user_id, carol.user_id], "g")
    async with carol.socket() as ws:
        await asyncio.gather(
            *(
                sender.send(target, f"{sender.user_id}:{i}")
                for i in range(15)
                for sender, target in ((alice, group), (bob, group))
            )
        )
        frames = [await ws.next("message.new") for _ in range(30)]
    cursors = [f["cursor"] for f in frames]
    assert cursors == sorted(cursors) and len(set(cursors)) == 30
    texts = sorted([await carol.decrypt(f["data"]) for f in frames])
    assert texts == sorted(f"{u.user_id}:{i}" for i in range(15) for u in (alice, bob))
    assert sorted(f["data"]["seq"] for f in frames) == list(range(1, 31))


async def test_long_poll_sync_matches_socket_delivery(signup: Signup) -> None:
    alice, bob, chat = await _pair(signup)
    await alice.send(chat, "first")  # shares alice's room key with bob (a to_device event) before it
    assert [e["kind"] for e in await bob.sync()] == ["chat.created", "to_device", "message.new"]
    poll = asyncio.create_task(bob.sync(timeout=120))
    await asyncio.sleep(0.3)  # (if the poll starts after the send, it answers at once: the same events)
    await alice.send(chat, "via long poll")
    events = await asyncio.wait_for(poll, 180)
    assert [e["kind"] for e in events] == ["message.new"]
    assert await bob.decrypt(events[0]["data"]) == "via long poll"
    assert await bob.sync() == []  # cursor advanced: nothing twice


async def test_retry_with_same_client_msg_id_is_idempotent(signup: Signup) -> None:
    alice, _bob, chat = await _pair(signup)
    first = await alice.send(chat, "once", client_msg_id="retry-1")
    again = await alice.send(chat, "once", client_msg_id="retry-1")
    assert again == first
    assert [m["seq"] for m in await alice.history(chat)] == [1]


async def test_reply_edit_delete_and_history(signup: Signup) -> None:
    alice, bob, chat = await _pair(signup)
    await alice.send(chat, "question")
    await bob.send(chat, "answer", reply_to=1)
    await alice.edit(chat, 1, "question (edited)")
    await bob.delete(chat, 2)
    rows = await bob.history(chat)
    assert [(r["seq"], r["text"], r["deleted"]) for r in rows] == [
        (1, "question (edited)", False),
        (2, None, True),
    ]
    assert rows[0]["edited_at"] is not None and rows[1]["reply_to"] == 1
    with pytest.raises(ApiFailure) as err:
        await alice.send(chat, "bad reply", reply_to=99)
    assert err.value.error == "invalid_reply"
    with pytest.raises(ApiFailure) as err:
        await bob.edit(chat, 1, "not mine")
    assert err.value.status == 403


async def test_edit_and_delete_and_receipt_events_reach_devices(signup: Signup) -> None:
    alice, bob, chat = await _pair(signup)
    async with alice.socket() as ws:
        await alice.send(chat, "v1")
        await alice.edit(chat, 1, "v2")
        await bob.read(chat, 1)
        await alice.delete(chat, 1)
        kinds = ("message.new", "message.edited", "receipt", "message.deleted")
        frames = [await ws.next(*kinds) for _ in range(4)]
    assert [f["kind"] for f in frames] == ["message.new", "message.edited", "receipt", "message.deleted"]
    assert await alice.decrypt(frames[1]["data"]) == "v2"
    assert frames[2]["data"] == {"chat_id": chat, "user_id": bob.user_id, "seq": 1}


async def test_read_marker_only_moves_forward(signup: Signup) -> None:
    alice, bob, chat = await _pair(signup)
    for text in ("a", "b", "c"):
        await alice.send(chat, text)
    assert (await bob.request("POST", f"/v1/chats/{chat}/read", json={"seq": 3}))["last_read_seq"] == 3
    assert (await bob.request("POST", f"/v1/chats/{chat}/read", json={"seq": 2}))["last_read_seq"] == 3
    with pytest.raises(ApiFailure) as err:
        await bob.read(chat, 4)
    assert err.value.error == "invalid_seq"
    chats = await bob.request("GET", "/v1/chats")
    assert [(c["id"], c["last_read_seq"], c["last_seq"]) for c in chats] == [(chat, 3, 3)]
