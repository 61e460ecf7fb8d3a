"""Actions audited beside logins and devices: chat role changes, ownership transfers, moderators removing
someone's message or membership, identity key replacement, admin calls refused for want of a role, and
code requests (with the number cut to country code and last two digits)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from messenger.client import ApiFailure, MessengerClient
from messenger.client.crypto import DeviceCrypto

Signup = Callable[..., Awaitable[MessengerClient]]
Entries = Callable[[], Awaitable[list[tuple[str, str | None, str | None, dict[str, Any]]]]]


@pytest.fixture
async def entries(trust_node: Any) -> AsyncIterator[Entries]:
    """``await entries()`` → (action, actor, target, detail) of the entries added since the test began."""
    import json

    engine = create_async_engine(trust_node.db_url)

    async def read(after: int) -> list[Any]:
        async with engine.connect() as conn:
            rows = await conn.execute(
                text("SELECT action, actor, target, detail FROM audit_log WHERE seq > :s ORDER BY seq"),
                {"s": after},
            )
            return [(a, actor, t, json.loads(d)) for a, actor, t, d in rows.all()]

    async with engine.connect() as conn:
        start = (await conn.execute(text("SELECT coalesce(max(seq), 0) FROM audit_log"))).scalar_one()
    yield lambda: read(start)
    await engine.dispose()


async def test_chat_moderation_is_audited(trust_node: Any, signup: Signup, entries: Entries) -> None:
    owner, admin, member, other = [await signup(node_=trust_node) for _ in range(4)]
    group = await owner.create_group([admin.user_id, member.user_id, other.user_id], "team")
    members = f"/v1/chats/{group}/members"
    await owner.request("PATCH", f"{members}/{admin.user_id}", json={"role": "admin"})
    sent = await member.send(group, "spam")
    await member.delete(group, (await member.send(group, "my own"))["seq"])  # own message: not moderation
    await admin.delete(group, sent["seq"])
    await admin.request("DELETE", f"{members}/{member.user_id}")
    await other.request("DELETE", f"{members}/me")  # leaving is not a removal
    await owner.request("PATCH", f"{members}/{admin.user_id}", json={"role": "owner"})
    await admin.request("DELETE", f"{members}/me")  # the new owner leaves: the old one inherits

    chat = [(a, actor, t, d) for a, actor, t, d in await entries() if a.startswith("chat.")]
    assert chat == [
        ("chat.role_changed", owner.user_id, admin.user_id, {"chat": group, "from": "member", "to": "admin"}),
        (
            "chat.message_removed",
            admin.user_id,
            sent["id"],
            {"chat": group, "seq": sent["seq"], "sender": member.user_id, "by_role": "admin"},
        ),
        (
            "chat.member_removed",
            admin.user_id,
            member.user_id,
            {"chat": group, "by_role": "admin", "role": "member"},
        ),
        (
            "chat.ownership_transferred",
            owner.user_id,
            admin.user_id,
            {"chat": group, "from": "admin", "to": "owner"},
        ),
        ("chat.ownership_transferred", admin.user_id, owner.user_id, {"chat": group, "succession": True}),
    ]


async def test_identity_key_replacement_is_audited(trust_node: Any, signup: Signup, entries: Entries) -> None:
    alice = await signup(node_=trust_node)
    await alice.request("PUT", "/v1/keys", json=alice.crypto.publication())  # the same keys again: no entry
    old = alice.crypto.identity_key
    replacement = DeviceCrypto.generate().publication()
    await alice.request("PUT", "/v1/keys", json=replacement)
    keys = [e for e in await entries() if e[0] == "keys.identity_replaced"]
    assert keys == [
        (
            "keys.identity_replaced",
            alice.user_id,
            alice.device_id,
            {"old": old, "new": replacement["identity_key"]},
        )
    ]


async def test_denied_admin_calls_and_code_requests_are_audited(
    trust_node: Any, signup: Signup, entries: Entries
) -> None:
    user = await signup(node_=trust_node)
    for method, path in (("GET", "/v1/admin/audit"), ("PUT", f"/v1/admin/roles/{user.user_id}")):
        with pytest.raises(ApiFailure) as err:
            await user.request(method, path, json={"role": "admin"} if method == "PUT" else None)
        assert err.value.status == 403
    got = await entries()
    denied = [e for e in got if e[0] == "admin.denied"]
    assert denied == [
        ("admin.denied", user.user_id, None, {"permission": "audit.read", "role": None}),
        ("admin.denied", user.user_id, None, {"permission": "roles.write", "role": None}),
    ]
    codes = [e for e in got if e[0] == "auth.code_requested"]
    assert codes == [("auth.code_requested", None, None, {"phone": f"+7…{user.phone[-2:]}"})]
    assert not any(user.phone in str(e) or user.phone[1:] in str(e) for e in got)
