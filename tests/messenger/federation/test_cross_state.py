"""Users homed in three states chat in a private chat and a group: every device gets every message
exactly once, in order, decryptable (real nodes, real HTTP between them)."""

from __future__ import annotations

import asyncio
from typing import Any

from fednodes import Nodes, chat_visible, collect, new_phone
from waits import wait_for

from messenger.client import MessengerClient


async def _assert_delivered(devices: list[MessengerClient], chat_id: str, sent: set[str], count: int) -> None:
    for device in devices:
        events = await collect(device, chat_id, count)
        seqs = [e["data"]["seq"] for e in events]
        assert seqs == list(range(1, count + 1)), f"{device.device_id}@{device.base_url} got seqs {seqs}"
        texts = {await device.decrypt(e["data"]) for e in events}
        assert texts == sent, f"{device.device_id} decrypted {texts ^ sent} wrong"
        assert not await collect(device, chat_id, 1, timeout=0.3), "an extra message arrived"


async def test_private_chat_across_states(three_states: Nodes, login: Any) -> None:
    phone = new_phone()
    a1 = await login(three_states["RU-MOW"], phone)
    a2 = await login(three_states["RU-MOW"], phone, device_name="tablet")
    b = await login(three_states["RU-SPE"])
    chat_id = await a1.open_private(b.user_id)  # hosted by RU-MOW, the creator's home state
    await chat_visible(b, chat_id)
    assert await b.open_private(a1.user_id) == chat_id  # the replica answers for the pair

    sent: set[str] = set()
    for round_ in range(4):
        texts = [f"a{round_}", f"b{round_}"]
        sent.update(texts)
        results = await asyncio.gather(a1.send(chat_id, texts[0]), b.send(chat_id, texts[1]))
        assert results[0]["seq"] is not None and results[1]["seq"] is None  # b's goes to the host
    await _assert_delivered([a1, a2, b], chat_id, sent, len(sent))


async def test_group_across_three_states(three_states: Nodes, login: Any) -> None:
    a = await login(three_states["RU-MOW"])
    b1 = await login(three_states["RU-SPE"])
    c = await login(three_states["RU-NVS"])
    chat_id = await b1.create_group([a.user_id, c.user_id], "three states")  # hosted by RU-SPE
    await chat_visible(a, chat_id)
    await chat_visible(c, chat_id)
    members = {m["user_id"] for m in (await c.request("GET", f"/v1/chats/{chat_id}"))["members"]}
    assert members == {a.user_id, b1.user_id, c.user_id}

    sent = {f"{who}{i}" for who in "abc" for i in range(4)}
    for i in range(4):
        senders = zip("abc", (a, b1, c), strict=True)
        await asyncio.gather(*(client.send(chat_id, f"{who}{i}") for who, client in senders))
    await _assert_delivered([a, b1, c], chat_id, sent, len(sent))


async def test_members_in_other_states_change_the_group_through_its_host(
    three_states: Nodes, login: Any
) -> None:
    owner = await login(three_states["RU-SPE"])  # the group is hosted by RU-SPE
    a = await login(three_states["RU-MOW"])
    c = await login(three_states["RU-NVS"])
    chat_id = await owner.create_group([a.user_id, c.user_id], "changes")
    await chat_visible(a, chat_id)
    await chat_visible(c, chat_id)

    async def members(client: MessengerClient) -> set[str]:
        chat = await client.request("GET", f"/v1/chats/{chat_id}")
        return {m["user_id"] for m in chat["members"]}

    # A plain member in RU-MOW may not remove the owner: the host refuses, nothing changes.
    response = await a.http.delete(f"/v1/chats/{chat_id}/members/{owner.user_id}")
    assert response.status_code == 202
    # The member in RU-NVS leaves: the host removes them, every replica follows, RU-NVS drops its copy.
    assert (await c.http.delete(f"/v1/chats/{chat_id}/members/me")).status_code == 202

    async def left() -> bool:
        return await members(owner) == {owner.user_id, a.user_id} and await members(a) == {
            owner.user_id,
            a.user_id,
        }

    await wait_for(left, what="the leave to reach the host and the other replica")

    async def dropped() -> bool:
        return all(ch["id"] != chat_id for ch in await c.request("GET", "/v1/chats"))

    await wait_for(dropped, what="RU-NVS to drop its replica")
    assert not await three_states["RU-NVS"].rows("SELECT id FROM chats WHERE id = :c", c=chat_id)
    removed = [e for e in await c.sync() if e["kind"] == "member.removed"]
    assert [e["data"]["user_id"] for e in removed] == [c.user_id]


async def _edited(client: MessengerClient, chat_id: str, seq: int) -> str:
    async def check() -> str | None:
        for event in await client.sync(timeout=1):
            data = event["data"]
            if event["kind"] == "message.edited" and data["chat_id"] == chat_id and data["seq"] == seq:
                return await client.decrypt(data)
        return None

    return str(await wait_for(check, what=f"message.edited of {chat_id}#{seq} on {client.base_url}"))


async def test_edits_reach_every_state(three_states: Nodes, login: Any) -> None:
    a = await login(three_states["RU-MOW"])
    b = await login(three_states["RU-SPE"])
    chat_id = await a.open_private(b.user_id)  # hosted by RU-MOW
    await chat_visible(b, chat_id)
    await a.send(chat_id, "from the host's side")
    await b.send(chat_id, "from the replica's side")
    assert len(await collect(a, chat_id, 2)) == 2 and len(await collect(b, chat_id, 2)) == 2

    await a.edit(chat_id, 1, "host edit")  # applied at RU-MOW, relayed to RU-SPE
    assert await _edited(b, chat_id, 1) == "host edit"
    await b.edit(chat_id, 2, "replica edit")  # forwarded to RU-MOW (202), applied and relayed back
    assert await _edited(a, chat_id, 2) == "replica edit"
    assert await _edited(b, chat_id, 2) == "replica edit"
    history = {m["seq"]: m["text"] for m in await b.history(chat_id)}
    assert history == {1: "host edit", 2: "replica edit"}


async def test_read_receipts_cross_states(three_states: Nodes, login: Any) -> None:
    a = await login(three_states["RU-MOW"])
    b = await login(three_states["RU-NVS"])
    chat_id = await a.open_private(b.user_id)  # hosted by RU-MOW
    await chat_visible(b, chat_id)
    await a.send(chat_id, "read me")
    assert len(await collect(b, chat_id, 1)) == 1
    await b.read(chat_id, 1)  # on the replica: relayed to the host directly

    async def receipt() -> bool:
        events = await a.sync(timeout=1)
        return any(e["kind"] == "receipt" and e["data"]["user_id"] == b.user_id for e in events)

    await wait_for(receipt, what="b's read receipt at RU-MOW")
    rows = await three_states["RU-MOW"].rows(
        "SELECT last_read_seq FROM members WHERE chat_id = :c AND user_id = :u", c=chat_id, u=b.user_id
    )
    assert rows[0][0] == 1
