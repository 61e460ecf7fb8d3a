"""Olm/Megolm end to end through a real node: round trips, forward secrecy, rotation, late devices,
removed members, key backup and SAS verification (``messenger.client``)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
import vodozemac as vz

from messenger.client import ApiFailure, DecryptError, DeviceCrypto, MessengerClient
from messenger.client.client import SasCodes
from messenger.client.crypto import VerificationFailed, new_recovery_key

Signup = Callable[..., Awaitable[MessengerClient]]


async def texts(client: MessengerClient, chat: str) -> list[str | None]:
    return [m["text"] for m in await client.history(chat)]


async def test_group_round_trip_two_users_three_devices(signup: Signup) -> None:
    alice, bob = await signup(), await signup()
    tablet = await signup(phone=alice.phone, device_name="tablet")
    group = await alice.create_group([bob.user_id], "trio")
    await alice.send(group, "from the phone")
    await bob.send(group, {"type": "text", "text": "from bob"})
    await tablet.send(group, "from the tablet")
    for reader in (alice, bob, tablet):
        assert await texts(reader, group) == ["from the phone", "from bob", "from the tablet"]
    rows = await bob.history(group)
    assert rows[1]["body"] == {"type": "text", "text": "from bob"}
    # one ciphertext per message, the same for every device, and one Megolm session per sending device
    assert len({r["session_id"] for r in rows}) == 3
    assert [r["ciphertext"] for r in await alice.history(group)] == [r["ciphertext"] for r in rows]


async def test_a_later_index_does_not_decrypt_earlier_messages(signup: Signup) -> None:
    alice, bob = await signup(), await signup()
    chat = await alice.open_private(bob.user_id)
    for text in ("m0", "m1", "m2"):
        await alice.send(chat, text)
    rows = await bob.history(chat)
    assert [r["text"] for r in rows] == ["m0", "m1", "m2"]
    inbound = bob.crypto.inbound[rows[0]["session_id"]].session
    exported = inbound.export_at(2)
    assert exported is not None
    thief = DeviceCrypto.generate()  # whoever holds the session from index 2 on
    thief.import_room_key(chat, alice.device_id, exported.to_base64(), exported=True)
    opened = {
        "chat_id": chat,
        "sender_device": alice.device_id,
        "session_id": rows[0]["session_id"],
    }
    for row in rows[:2]:
        with pytest.raises(DecryptError):
            thief.decrypt(**opened, ciphertext=row["ciphertext"])
    assert thief.decrypt(**opened, ciphertext=rows[2]["ciphertext"]) == {"text": "m2"}


async def test_rotation_on_removal_and_the_removed_member_cannot_read_on(signup: Signup) -> None:
    alice, bob, carol = await signup(), await signup(), await signup()
    group = await alice.create_group([bob.user_id, carol.user_id], "rotating")
    await alice.send(group, "all three")
    assert await texts(carol, group) == ["all three"]
    carol_history = await carol.history(group)
    await alice.request("DELETE", f"/v1/chats/{group}/members/{carol.user_id}")
    await alice.send(group, "after carol left")
    rows = await bob.history(group)
    assert [r["text"] for r in rows] == ["all three", "after carol left"]
    assert rows[0]["session_id"] != rows[1]["session_id"]  # a new session before the next send
    with pytest.raises(ApiFailure):  # the node no longer serves her the chat
        await carol.history(group)
    await carol.sync()  # whatever reached her device: no key of the new session
    assert rows[1]["session_id"] not in carol.crypto.inbound
    with pytest.raises(DecryptError):  # and the ciphertext (say, from a copy of the database) stays shut
        await carol.decrypt_body(rows[1])
    assert carol_history[0]["text"] == "all three"


async def test_rotation_after_the_message_limit(signup: Signup) -> None:
    alice, bob = await signup(), await signup()
    chat = await alice.open_private(bob.user_id)
    alice.crypto.rotation_messages = 2
    for text in ("a", "b", "c"):
        await alice.send(chat, text)
    rows = await bob.history(chat)
    assert [r["text"] for r in rows] == ["a", "b", "c"]
    assert rows[0]["session_id"] == rows[1]["session_id"] != rows[2]["session_id"]


async def test_a_device_that_joins_later_reads_only_what_it_was_given_keys_for(signup: Signup) -> None:
    alice, bob = await signup(), await signup()
    chat = await alice.open_private(bob.user_id)
    await alice.send(chat, "before the laptop")
    laptop = await signup(phone=bob.phone, device_name="laptop")
    await alice.send(chat, "after the laptop")
    assert await texts(laptop, chat) == [None, "after the laptop"]
    assert await texts(bob, chat) == ["before the laptop", "after the laptop"]


async def test_backup_and_restore_on_a_new_device(signup: Signup) -> None:
    alice, bob = await signup(), await signup()
    chat = await alice.open_private(bob.user_id)
    await alice.send(chat, "keep me")
    await bob.send(chat, "and me")
    await bob.history(chat)  # takes alice's room key
    recovery = new_recovery_key()
    assert await bob.backup_keys(recovery) == 2
    replacement = await signup(phone=bob.phone, device_name="new phone")
    assert await texts(replacement, chat) == [None, None]
    with pytest.raises(DecryptError):
        await replacement.restore_keys(new_recovery_key())  # another recovery key opens nothing
    assert await replacement.restore_keys(recovery) == 2
    assert await texts(replacement, chat) == ["keep me", "and me"]
    backup = await bob.request("GET", "/v1/keys/backup")
    assert backup["public_key"] != recovery and recovery not in str(backup)  # the node holds no secret


async def test_oversize_backup_and_stale_version_are_refused(signup: Signup) -> None:
    bob = await signup()
    old = await bob.request(
        "POST", "/v1/keys/backup/version", json={"public_key": vz.PkDecryption().public_key.to_base64()}
    )
    await bob.request(
        "POST", "/v1/keys/backup/version", json={"public_key": vz.PkDecryption().public_key.to_base64()}
    )
    with pytest.raises(ApiFailure) as err:
        await bob.request("PUT", "/v1/keys/backup", json={"version": old["version"], "sessions": {"s": "x"}})
    assert (err.value.status, err.value.error) == (409, "stale_backup_version")
    with pytest.raises(ApiFailure) as err:
        await bob.request(
            "PUT", "/v1/keys/backup", json={"version": old["version"] + 1, "sessions": {"s": "x" * 70_000}}
        )
    assert (err.value.status, err.value.error) == (400, "ciphertext_too_large")


async def test_to_device_send_is_idempotent_per_txn(signup: Signup) -> None:
    alice, bob = await signup(), await signup()
    body = {"messages": {bob.user_id: {bob.device_id: "opaque"}}}
    first = await alice.request("PUT", "/v1/sendToDevice/txn-1", json=body)
    again = await alice.request("PUT", "/v1/sendToDevice/txn-1", json=body)
    assert (first["delivered"], again["delivered"]) == (1, 0)
    events = [e for e in await bob.sync() if e["kind"] == "to_device"]
    assert [e["data"] for e in events] == [
        {"sender": alice.user_id, "sender_device": alice.device_id, "ciphertext": "opaque"}
    ]


def same_codes(seen: dict[str, SasCodes], who: str) -> Callable[[SasCodes], Awaitable[bool]]:
    """A person who compares the two screens: true once both show the same codes."""

    async def confirm(codes: SasCodes) -> bool:
        seen[who] = codes
        while len(seen) < 2:
            await asyncio.sleep(0.05)
        return seen["a"] == seen["b"]

    return confirm


async def test_sas_verification_between_two_users(signup: Signup) -> None:
    alice, bob = await signup(), await signup()
    seen: dict[str, SasCodes] = {}
    await asyncio.gather(
        alice.verify(bob.user_id, bob.device_id, confirm=same_codes(seen, "a"), initiate=True),
        bob.verify(alice.user_id, alice.device_id, confirm=same_codes(seen, "b"), initiate=False),
    )
    assert len(seen["a"].emoji) == 7 and len(seen["a"].decimals) == 3
    assert bob.device_id in alice.crypto.verified and alice.device_id in bob.crypto.verified
    before = await alice.fingerprint(bob.user_id)
    assert before == await bob.fingerprint(bob.user_id)  # both screens show bob's safety number alike
    await signup(phone=bob.phone, device_name="second")
    assert await alice.fingerprint(bob.user_id) != before  # a new device changes it


async def test_sas_refuses_a_mismatch_and_a_substituted_key(signup: Signup) -> None:
    alice = await signup()
    phone = await signup(phone=alice.phone, device_name="phone")

    async def no(_codes: SasCodes) -> bool:
        return False

    async def yes(_codes: SasCodes) -> bool:
        return True

    results = await asyncio.gather(
        alice.verify(alice.user_id, phone.device_id, confirm=no, initiate=True),
        phone.verify(alice.user_id, alice.device_id, confirm=yes, initiate=False),
        return_exceptions=True,
    )
    assert [type(r) for r in results] == [VerificationFailed, VerificationFailed]
    # a directory that lies about the phone's signing key (a man in the middle): the MAC gives it away
    mallory = DeviceCrypto.generate()
    await alice.device_keys(alice.user_id, phone.device_id)
    alice._directory[phone.device_id] = {
        **alice._directory[phone.device_id],
        "signing_key": mallory.signing_key,
    }
    results = await asyncio.gather(
        alice.verify(alice.user_id, phone.device_id, confirm=yes, initiate=True),
        phone.verify(alice.user_id, alice.device_id, confirm=yes, initiate=False),
        return_exceptions=True,
    )
    assert isinstance(results[0], VerificationFailed)
    assert phone.device_id not in alice.crypto.verified


async def test_client_state_survives_a_restart(signup: Signup) -> None:
    alice, bob = await signup(), await signup()
    chat = await alice.open_private(bob.user_id)
    await alice.send(chat, "one")
    await bob.history(chat)
    key = b"k" * 32
    bob.crypto = DeviceCrypto.from_pickle(bob.crypto.pickle(key), key)
    alice.crypto = DeviceCrypto.from_pickle(alice.crypto.pickle(key), key)
    await alice.send(chat, "two")
    assert await texts(bob, chat) == ["one", "two"]
