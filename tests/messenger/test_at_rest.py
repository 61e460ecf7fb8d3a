"""End-to-end encryption: after a conversation the database holds none of the plaintexts."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from messenger.client import MessengerClient

Signup = Callable[..., Awaitable[MessengerClient]]


async def test_database_dump_contains_no_plaintext(signup: Signup, node: Any, dump_db: Any) -> None:
    alice, bob, carol = await signup(), await signup(), await signup()
    bob_laptop = await signup(phone=bob.phone, device_name="laptop")
    private = await alice.open_private(bob.user_id)
    group = await carol.create_group([alice.user_id, bob.user_id], "plans")
    plaintexts = [f"secret-{secrets.token_hex(6)}" for _ in range(6)]
    await alice.send(private, plaintexts[0])
    await bob.send(private, plaintexts[1], reply_to=1)
    await alice.edit(private, 1, plaintexts[2])
    await carol.send(group, plaintexts[3])
    await bob_laptop.send(group, plaintexts[4])
    await alice.send(group, plaintexts[5])

    # every recipient device can read what it was sent
    assert [m["text"] for m in await bob_laptop.history(private)] == plaintexts[2:0:-1]
    assert [m["text"] for m in await alice.history(group)] == plaintexts[3:6]

    dump = await dump_db(node.db_url)
    assert "messages" in dump and alice.user_id in dump and private in dump  # the dump is real
    leaked = [p for p in plaintexts if p in dump]
    assert leaked == []
    # nor any room key: neither a sender's outbound session key nor the receivers' inbound exports
    room_keys = [
        key
        for client in (alice, bob, bob_laptop, carol)
        for key in [o.session.session_key.to_base64() for o in client.crypto.outbound.values()]
        + [str(getattr(i.session.export_at(0), "to_base64", str)()) for i in client.crypto.inbound.values()]
    ]
    assert len(room_keys) > 8 and [k for k in room_keys if k in dump] == []
    if node.db_url.startswith("sqlite"):  # also the raw file and its write-ahead log
        raw = b"".join(p.read_bytes() for p in node.data_dir.glob("node.db*"))
        assert [p for p in plaintexts if p.encode() in raw] == []


async def test_deleting_a_message_erases_its_ciphertexts(signup: Signup, node: Any, dump_db: Any) -> None:
    alice, bob = await signup(), await signup()
    chat = await alice.open_private(bob.user_id)
    await alice.send(chat, "keep")
    await alice.send(chat, "regret")
    [kept, doomed] = [e for e in await bob.sync() if e["kind"] == "message.new"]
    await alice.delete(chat, 2)
    dump = await dump_db(node.db_url)
    assert kept["data"]["ciphertext"] in dump  # the dump would show a ciphertext that is still there
    assert doomed["data"]["ciphertext"] not in dump
    replay = (await bob.request("GET", "/v1/sync", params={"cursor": 0}))["events"]
    assert [e["data"].get("deleted", False) for e in replay if e["kind"] == "message.new"] == [False, True]
