"""Signed server-to-server requests: a replayed transaction is applied once; a bad signature, a skewed
clock, an unknown origin, a forbidden origin and a misaddressed request are refused, audited (once per
origin and reason a minute), and leave nothing behind."""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

import httpx
from fednodes import ALLOWED_FAKE, FORBIDDEN_FAKE, Nodes, StateNode, signed_put
from nacl.signing import SigningKey

from messenger.client import ApiFailure

FAKE_USER = f"u{secrets.token_hex(8)}@{ALLOWED_FAKE}"


def _chat_created(chat_id: str, local_user: str) -> dict[str, Any]:
    """A hosting node's announcement of a new private chat with ``local_user`` (hosted by the fake peer)."""
    members = [
        {"user_id": FAKE_USER, "role": "member", "joined_at": time.time()},
        {"user_id": local_user, "role": "member", "joined_at": time.time()},
    ]
    snapshot = {
        "chat_id": chat_id,
        "kind": "group",
        "title": "from a fake peer",
        "pair_key": None,
        "created_by": FAKE_USER,
        "created_at": time.time(),
        "last_seq": 0,
        "members": members,
    }
    payload = {"chat_id": chat_id, "kind": "group", "title": "t", "members": members}
    return {
        "type": "chat.event",
        "chat_id": chat_id,
        "kind": "chat.created",
        "payload": payload,
        "also": [],
        "snapshot": snapshot,
    }


def _message(chat_id: str, seq: int, device_id: str) -> dict[str, Any]:
    return {
        "type": "message.new",
        "chat_id": chat_id,
        "seq": seq,
        "id": f"m{secrets.token_hex(8)}",
        "sender": FAKE_USER,
        "sender_device": "d" + "0" * 16,
        "client_msg_id": f"c{seq}",
        "reply_to": None,
        "ts": time.time(),
        "session_id": "s1",
        "ciphertext": "Y2lwaGVy",
    }


async def _count(node: StateNode, sql: str, **params: Any) -> int:
    return int((await node.rows(sql, **params))[0][0])


async def test_replayed_transaction_is_applied_once(three_states: Nodes, login: Any) -> None:
    mow = three_states["RU-MOW"]
    key = three_states.fakes[ALLOWED_FAKE]
    user = await login(mow)
    chat_id = f"c{secrets.token_hex(8)}"
    txn = {"pdus": [_chat_created(chat_id, user.user_id), _message(chat_id, 1, user.device_id)]}
    path = f"/_federation/v1/send/{secrets.token_hex(8)}"
    first = await signed_put(mow, path, txn, origin=ALLOWED_FAKE, key=key)
    assert first.status_code == 200 and first.json()["applied"] is True, first.text
    replay = await signed_put(mow, path, txn, origin=ALLOWED_FAKE, key=key)  # same txn id, fresh signature
    assert replay.status_code == 200 and replay.json()["applied"] is False, replay.text
    # The same message again under a new transaction id: already at that seq, not stored twice.
    again = await signed_put(
        mow,
        f"/_federation/v1/send/{secrets.token_hex(8)}",
        {"pdus": txn["pdus"][1:]},
        origin=ALLOWED_FAKE,
        key=key,
    )
    assert again.status_code == 200, again.text

    assert await _count(mow, "SELECT count(*) FROM chats WHERE id = :c", c=chat_id) == 1
    assert await _count(mow, "SELECT count(*) FROM messages WHERE chat_id = :c", c=chat_id) == 1
    assert await _count(mow, "SELECT count(*) FROM members WHERE chat_id = :c", c=chat_id) == 2
    events = [e for e in await user.sync() if e["data"].get("chat_id") == chat_id]
    assert [e["kind"] for e in events] == ["chat.created", "message.new"]
    history = await user.request("GET", f"/v1/chats/{chat_id}/messages")
    assert [(m["seq"], m["ciphertext"]) for m in history] == [(1, "Y2lwaGVy")]


async def test_refused_requests_store_nothing(three_states: Nodes, login: Any) -> None:
    mow = three_states["RU-MOW"]
    user = await login(mow)
    allowed, forbidden = three_states.fakes[ALLOWED_FAKE], three_states.fakes[FORBIDDEN_FAKE]
    started = time.time()
    cases: list[tuple[str, dict[str, Any], int, str]] = [
        ("bad signature", {"origin": ALLOWED_FAKE, "key": SigningKey.generate()}, 401, "bad_signature"),
        ("clock skew", {"origin": ALLOWED_FAKE, "key": allowed, "now": time.time() - 301}, 401, "clock_skew"),
        ("unknown origin", {"origin": "RU-YAR", "key": allowed}, 401, "unknown_origin"),
        ("forbidden origin", {"origin": FORBIDDEN_FAKE, "key": forbidden}, 403, "federation_forbidden"),
        (
            "other node",
            {"origin": ALLOWED_FAKE, "key": allowed, "destination": "RU-SPE"},
            401,
            "wrong_destination",
        ),
    ]
    for name, signing, status, code in cases:
        chat_id, txn_id = f"c{secrets.token_hex(8)}", secrets.token_hex(8)
        pdus = {"pdus": [_chat_created(chat_id, user.user_id), _message(chat_id, 1, user.device_id)]}
        response = await signed_put(mow, f"/_federation/v1/send/{txn_id}", pdus, **signing)
        assert response.status_code == status, f"{name}: {response.text}"
        assert response.json()["error"] == code, name
        assert await _count(mow, "SELECT count(*) FROM chats WHERE id = :c", c=chat_id) == 0, name
        assert await _count(mow, "SELECT count(*) FROM fed_txns WHERE txn_id = :t", t=txn_id) == 0, name
    assert not [e for e in await user.sync() if e["kind"] != "device.added"]
    audited = await _audited(mow, since=started - started % 60)  # this minute's window and later
    if audited is not None:
        assert {code for _, _, _, code in cases} <= audited
    async with httpx.AsyncClient(base_url=mow.url, timeout=60) as http:
        metrics = (await http.get("/metrics")).text
    for _, _, _, code in cases:
        assert f'msgfleet_federation_refused_total{{reason="{code}"}}' in metrics, code
    # The forbidden state's node cannot be queried either, and local users cannot add its users.
    query = await signed_put(
        mow,
        "/_federation/v1/query/users",
        {"user_ids": [user.user_id]},
        origin=FORBIDDEN_FAKE,
        key=forbidden,
        method="POST",
    )
    assert query.status_code == 403
    try:
        await user.open_private(f"u{secrets.token_hex(8)}@{FORBIDDEN_FAKE}")
    except ApiFailure as exc:
        assert (exc.status, exc.error) == (403, "federation_forbidden")
    else:
        raise AssertionError("a chat with a forbidden state's user was created")


async def _audited(node: StateNode, since: float) -> set[str] | None:
    """Reasons of refused federation requests audited since ``since`` (None: the node has no audit
    trail)."""
    tables = await node.rows(
        "SELECT name FROM sqlite_master WHERE name = 'audit_log'"
        if node.db_url.startswith("sqlite")
        else "SELECT tablename FROM pg_tables WHERE tablename = 'audit_log'"
    )
    if not tables:
        return None
    rows = await node.rows(
        "SELECT detail FROM audit_log WHERE action = 'federation.refused' AND created_at >= :t", t=since
    )
    return {json.loads(d)["reason"] for (d,) in rows}


async def test_a_pdu_the_origin_may_not_send_is_skipped_the_rest_applies(
    three_states: Nodes, login: Any
) -> None:
    mow = three_states["RU-MOW"]
    key = three_states.fakes[ALLOWED_FAKE]
    user, friend = await login(mow), await login(mow)
    local_chat = await user.open_private(friend.user_id)  # hosted here: a peer cannot post into it
    chat_id = f"c{secrets.token_hex(8)}"
    first = {"pdus": [_chat_created(chat_id, user.user_id)]}
    assert (
        await signed_put(
            mow, f"/_federation/v1/send/{secrets.token_hex(8)}", first, origin=ALLOWED_FAKE, key=key
        )
    ).status_code == 200
    mixed = {"pdus": [_message(local_chat, 1, user.device_id), _message(chat_id, 1, user.device_id)]}
    response = await signed_put(
        mow, f"/_federation/v1/send/{secrets.token_hex(8)}", mixed, origin=ALLOWED_FAKE, key=key
    )
    assert response.status_code == 200 and response.json()["applied"] is True
    assert await _count(mow, "SELECT count(*) FROM messages WHERE chat_id = :c", c=local_chat) == 0
    assert await _count(mow, "SELECT count(*) FROM messages WHERE chat_id = :c", c=chat_id) == 1
