"""Admin API over real HTTP: roles granted by a bootstrap admin, least privilege per role, all audited."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from messenger.client import ApiFailure, MessengerClient

Signup = Callable[..., Awaitable[MessengerClient]]


@pytest.fixture
def admin_node(trust_node: Any) -> Any:
    return trust_node


async def _status(client: MessengerClient, method: str, path: str, **kw: Any) -> int:
    try:
        await client.request(method, path, **kw)
    except ApiFailure as exc:
        assert exc.error in {"not_allowed", "user_not_found", "role_not_found", "device_not_found"}, exc
        return exc.status
    return 200


async def test_roles_have_least_privilege(signup: Signup, admin_node: Any, admin_phone: str) -> None:
    boss = await signup(phone=admin_phone, node_=admin_node)
    auditor, support, user = [await signup(node_=admin_node) for _ in range(3)]
    assert (await boss.request("GET", "/v1/admin/me"))["role"] == "admin"
    await boss.request("PUT", f"/v1/admin/roles/{auditor.user_id}", json={"role": "auditor"})
    await boss.request("PUT", f"/v1/admin/roles/{support.user_id}", json={"role": "support"})
    me = await auditor.request("GET", "/v1/admin/me")
    assert (me["role"], me["permissions"]) == ("auditor", ["audit.read"])

    second = await signup(phone=user.phone, node_=admin_node, device_name="lost phone")
    routes = {
        "audit": ("GET", "/v1/admin/audit"),
        "verify": ("GET", "/v1/admin/audit/verify"),
        "user": ("GET", f"/v1/admin/users/{user.user_id}"),
        "chats": ("GET", f"/v1/admin/users/{user.user_id}/chats"),
        "roles": ("GET", "/v1/admin/roles"),
    }
    expected = {  # role -> the routes it may use
        "admin": {"audit", "verify", "user", "chats", "roles"},
        "auditor": {"audit", "verify"},
        "support": {"user"},
        "user": set(),
    }
    for name, client in (("admin", boss), ("auditor", auditor), ("support", support), ("user", user)):
        got = {r for r, (m, p) in routes.items() if await _status(client, m, p) == 200}
        assert got == expected[name], name

    # Changing users: support may revoke a device, an auditor may not; only admins grant roles.
    revoke = f"/v1/admin/users/{user.user_id}/devices/{second.device_id}"
    assert await _status(auditor, "DELETE", revoke) == 403
    assert await _status(auditor, "PUT", f"/v1/admin/roles/{auditor.user_id}", json={"role": "admin"}) == 403
    assert await _status(support, "PUT", f"/v1/admin/roles/{support.user_id}", json={"role": "admin"}) == 403
    assert await _status(support, "DELETE", revoke) == 200
    with pytest.raises(ApiFailure) as err:
        await second.request("GET", "/v1/devices")
    assert err.value.status == 401
    assert await _status(boss, "PUT", "/v1/admin/roles/u00@RU-MOW", json={"role": "auditor"}) == 404
    with pytest.raises(ApiFailure) as bad:
        await boss.request("PUT", f"/v1/admin/roles/{user.user_id}", json={"role": "root"})
    assert bad.value.status == 422

    # Revoking a role takes the permissions away at once.
    await boss.request("DELETE", f"/v1/admin/roles/{auditor.user_id}")
    assert await _status(auditor, "GET", "/v1/admin/audit") == 403

    # Every operator action is in the (intact) audit log, with the operator as actor.
    entries = await boss.request("GET", "/v1/admin/audit", params={"limit": 1000})
    ops = [(e["action"], e["actor"], e["target"]) for e in entries if e["action"].startswith("admin.")]
    assert ("admin.role_granted", boss.user_id, auditor.user_id) in ops
    assert ("admin.device_revoked", support.user_id, second.device_id) in ops
    assert ("admin.user_viewed", support.user_id, user.user_id) in ops
    assert ("admin.role_revoked", boss.user_id, auditor.user_id) in ops
    assert ("device.revoked", user.user_id, second.device_id) in [
        (e["action"], e["actor"], e["target"]) for e in entries
    ]
    verified = await boss.request("GET", "/v1/admin/audit/verify")
    assert verified["ok"] and verified["entries"] >= len(entries)


async def test_admin_sees_chat_metadata(signup: Signup, admin_node: Any, admin_phone: str) -> None:
    boss = await signup(phone=admin_phone, node_=admin_node)
    alice, bob, carol = [await signup(node_=admin_node) for _ in range(3)]
    group = await alice.create_group([bob.user_id, carol.user_id], "team")
    await alice.open_private(bob.user_id)
    await alice.send(group, "hi")
    chats = await boss.request("GET", f"/v1/admin/users/{alice.user_id}/chats")
    by_kind = {c["kind"]: c for c in chats}
    assert by_kind["group"]["members"] == 3 and by_kind["group"]["last_seq"] == 1
    assert by_kind["group"]["role"] == "owner" and by_kind["private"]["members"] == 2
