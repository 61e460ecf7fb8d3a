"""SCIM writes through scim2-client (its httpx2 engine, over loopback) and their effect on the messenger:
directory contacts, the group's chat and its members, deprovisioning, a number that signs up later."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from scim2_client.engines.httpx2 import AsyncSCIMClient
from scim2_models import Group, GroupMember, PatchOp, PhoneNumber, User
from scim_helpers import Org

from messenger.client import MessengerClient

Signup = Callable[..., Awaitable[MessengerClient]]


def h(phone: str) -> str:
    return hashlib.sha256(phone.encode()).hexdigest()


def person(phone: str, name: str) -> User:
    return User(
        user_name=f"{name}.{secrets.token_hex(3)}@school.example",
        display_name=name.title(),
        external_id=f"hr-{secrets.token_hex(4)}",
        phone_numbers=[
            PhoneNumber(value=phone, type=PhoneNumber.Type.mobile),
            PhoneNumber(value="+74951234567", type=PhoneNumber.Type.work),  # dropped: only mobile is kept
        ],
    )


async def contacts(client: MessengerClient) -> dict[str, str | None]:
    return {c["hash"]: c["user_id"] for c in await client.request("GET", "/v1/contacts")}


async def org_chat(client: MessengerClient, title: str) -> dict[str, Any] | None:
    for chat in await client.request("GET", "/v1/chats"):
        if chat["title"] == title:
            full: dict[str, Any] = await client.request("GET", f"/v1/chats/{chat['id']}")
            return full
    return None


def members(chat: dict[str, Any] | None) -> set[str]:
    return {m["user_id"] for m in (chat or {}).get("members", [])}


def patch(*operations: dict[str, Any]) -> PatchOp[Group]:
    return PatchOp[Group](operations=operations)


async def test_provisioned_users_become_contacts_and_group_chat_members(
    scim: AsyncSCIMClient, signup: Signup, scim_node: Any
) -> None:
    alice, bob, carol = [await signup(node_=scim_node) for _ in range(3)]
    assert alice.phone and bob.phone and carol.phone
    late_phone = f"+7996{secrets.randbelow(10**7):07d}"  # provisioned before it has an account
    a, b, c, late = [
        await scim.create(person(p, n))
        for p, n in ((alice.phone, "alice"), (bob.phone, "bob"), (carol.phone, "carol"), (late_phone, "dave"))
    ]
    assert isinstance(a, User) and isinstance(b, User) and isinstance(c, User) and isinstance(late, User)
    assert [str(p.value) for p in a.phone_numbers or []] == [alice.phone]  # the work number was dropped

    # Members see each other (and the not-yet-registered one, unresolved) as contacts.
    seen = await contacts(alice)
    assert seen == {h(bob.phone): bob.user_id, h(carol.phone): carol.user_id, h(late_phone): None}

    title = f"7B {secrets.token_hex(2)}"
    group = await scim.create(
        Group(display_name=title, members=[GroupMember(value=a.id), GroupMember(value=b.id)])
    )
    assert isinstance(group, Group) and group.id
    chat = await org_chat(alice, title)
    assert chat is not None and chat["kind"] == "group"
    assert members(chat) == {alice.user_id, bob.user_id}
    assert await org_chat(carol, title) is None

    # PATCH add: carol and the not-yet-registered dave join; dave's account joins when he signs up.
    await scim.modify(
        Group,
        group.id,
        patch({"op": "add", "path": "members", "value": [{"value": c.id}, {"value": late.id}]}),
    )
    assert members(await org_chat(alice, title)) == {alice.user_id, bob.user_id, carol.user_id}
    dave = await signup(phone=late_phone, node_=scim_node)
    assert members(await org_chat(dave, title)) == {alice.user_id, bob.user_id, carol.user_id, dave.user_id}
    assert (await contacts(alice))[h(late_phone)] == dave.user_id

    # PATCH remove by a value filter: bob leaves the chat (and gets member.removed), stays a contact.
    await scim.modify(Group, group.id, patch({"op": "remove", "path": f'members[value eq "{b.id}"]'}))
    assert members(await org_chat(alice, title)) == {alice.user_id, carol.user_id, dave.user_id}
    assert await org_chat(bob, title) is None
    assert h(bob.phone) in await contacts(alice)

    # Deprovisioning: active=false takes carol out of the chat and out of everyone's contacts.
    await scim.modify(
        User, c.id, PatchOp[User](operations=[{"op": "replace", "path": "active", "value": False}])
    )
    assert members(await org_chat(alice, title)) == {alice.user_id, dave.user_id}
    assert h(carol.phone) not in await contacts(alice)
    assert await contacts(carol) == {}  # an inactive member sees no directory either

    # DELETE user: dave leaves the chat and the contacts.
    await scim.delete(User, late.id)
    assert members(await org_chat(alice, title)) == {alice.user_id}
    assert h(late_phone) not in await contacts(alice)

    # DELETE group: its chat loses every member.
    await scim.delete(Group, group.id)
    assert await org_chat(alice, title) is None


async def test_renaming_and_replacing_a_group(scim: AsyncSCIMClient, signup: Signup, scim_node: Any) -> None:
    alice, bob = [await signup(node_=scim_node) for _ in range(2)]
    assert alice.phone and bob.phone
    a, b = [await scim.create(person(p, n)) for p, n in ((alice.phone, "alice"), (bob.phone, "bob"))]
    assert isinstance(a, User) and isinstance(b, User)
    group = await scim.create(Group(display_name="Staff", members=[GroupMember(value=a.id)]))
    assert isinstance(group, Group) and group.id
    new_title = f"Teachers {secrets.token_hex(2)}"
    replaced = await scim.replace(
        Group(id=group.id, display_name=new_title, members=[GroupMember(value=b.id)])
    )
    assert isinstance(replaced, Group) and replaced.meta and group.meta
    assert replaced.meta.version != group.meta.version
    assert members(await org_chat(bob, new_title)) == {bob.user_id}
    assert await org_chat(alice, new_title) is None


async def test_an_organisation_sees_only_its_own_directory(
    scim: AsyncSCIMClient, org: Org, new_org: Callable[..., Awaitable[Org]], signup: Signup, scim_node: Any
) -> None:
    import httpx2

    alice = await signup(node_=scim_node)
    assert alice.phone
    mine = await scim.create(person(alice.phone, "alice"))
    assert isinstance(mine, User) and mine.id
    other = await new_org("company")
    async with httpx2.AsyncClient(base_url=other.base, headers=other.headers) as http:
        assert (await http.get(f"Users/{mine.id}")).status_code == 404
        listed = (await http.get("Users", params={"filter": f'userName eq "{mine.user_name}"'})).json()
        assert listed["totalResults"] == 0
        assert (await http.delete(f"Users/{mine.id}")).status_code == 404
    found = await scim.query(
        User, query_parameters={"filter": f'userName eq "{str(mine.user_name).upper()}"'}
    )
    assert [u.id for u in found.resources or []] == [mine.id]  # userName is not case-sensitive
