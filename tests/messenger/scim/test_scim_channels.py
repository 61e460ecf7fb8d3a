"""A SCIM group of kind ``channel`` (the node's Group extension, learnt by scim2-client from the node's
/Schemas and /ResourceTypes): its members are the channel's subscribers, its extension's owners post."""

from __future__ import annotations

import io
import json
import secrets
import zipfile
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx2
import pytest
from scim2_client.engines.httpx2 import AsyncSCIMClient
from scim2_models import PatchOp, PhoneNumber, User
from scim_helpers import Org

from messenger.client import ApiFailure, MessengerClient

Signup = Callable[..., Awaitable[MessengerClient]]
EXT = "urn:msgfleet:params:scim:schemas:extension:2.0:Group"
CORE = "urn:ietf:params:scim:schemas:core:2.0:Group"


@pytest.fixture
async def discovered(org: Org) -> AsyncIterator[AsyncSCIMClient]:
    """scim2-client that knows only what the node publishes (no models given)."""
    http = httpx2.AsyncClient(base_url=org.base, headers=org.headers, timeout=30)
    client = AsyncSCIMClient(http)
    await client.discover()
    yield client
    await http.aclose()


async def _user(scim: AsyncSCIMClient, phone: str) -> str:
    user: User[Any] = User(
        user_name=f"u{secrets.token_hex(4)}@school.example",
        phone_numbers=[PhoneNumber(value=phone, type=PhoneNumber.Type.mobile)],
    )
    made: Any = await scim.create(user)  # answered as the discovered User model
    assert made.id
    return str(made.id)


def _group(scim: AsyncSCIMClient, body: dict[str, Any]) -> Any:
    model = scim.provider.model_for("Group")
    assert model is not None
    return model.model_validate({"schemas": [CORE, EXT], **body})


async def channel_of(client: MessengerClient, title: str) -> dict[str, Any] | None:
    return next((c for c in await client.request("GET", "/v1/channels") if c["title"] == title), None)


async def test_a_channel_group_subscribes_its_members_and_its_owners_post(
    discovered: AsyncSCIMClient, org: Org, signup: Signup, scim_node: Any
) -> None:
    head, pupil, other = [await signup(node_=scim_node) for _ in range(3)]
    assert head.phone and pupil.phone and other.phone
    h, p, o = [await _user(discovered, phone) for phone in (head.phone, pupil.phone, other.phone)]
    title = f"School news {secrets.token_hex(2)}"
    group = await discovered.create(
        _group(
            discovered,
            {
                "displayName": title,
                "members": [{"value": p}, {"value": o}],
                EXT: {"kind": "channel", "owners": [{"value": h}]},
            },
        )
    )
    assert group.id and group.model_dump()[EXT]["kind"] == "channel"

    seen = {c.user_id: await channel_of(c, title) for c in (head, pupil, other)}
    assert {u: (c or {}).get("role") for u, c in seen.items()} == {
        head.user_id: "owner",
        pupil.user_id: "subscriber",
        other.user_id: "subscriber",
    }
    channel_id = seen[head.user_id]["id"]  # type: ignore[index]
    assert all(c and c["id"] == channel_id for c in seen.values())
    assert not [c for c in await head.request("GET", "/v1/chats") if c["title"] == title]  # no chat

    # The owner named in the extension posts; a plain member cannot.
    await head.request("POST", f"/v1/channels/{channel_id}/posts", json={"text": "no school tomorrow"})
    with pytest.raises(ApiFailure) as refused:
        await pupil.request("POST", f"/v1/channels/{channel_id}/posts", json={"text": "yay"})
    assert refused.value.status == 403 and refused.value.error == "not_owner"
    export = await head.http.get("/v1/account/export")
    exported = json.loads(zipfile.ZipFile(io.BytesIO(export.content)).read("account.json"))
    [record] = exported["directory_records"]
    assert record["owner_of"] == [title] and record["groups"] == []  # the owner's data export names it

    # PATCH remove: the member is unsubscribed at once.
    model = discovered.provider.model_for("Group")
    remove = PatchOp[model](operations=[{"op": "remove", "path": f'members[value eq "{o}"]'}])  # type: ignore[valid-type]
    await discovered.modify(model, group.id, remove)
    assert await channel_of(other, title) is None
    assert (await channel_of(pupil, title) or {}).get("role") == "subscriber"

    # Deprovisioning the pupil unsubscribes them; the kind cannot change (RFC 7643 immutable).
    users = discovered.provider.model_for("User")
    inactive = PatchOp[users](operations=[{"op": "replace", "path": "active", "value": False}])  # type: ignore[valid-type]
    await discovered.modify(users, p, inactive)
    assert await channel_of(pupil, title) is None
    async with httpx2.AsyncClient(base_url=org.base, headers=org.headers, timeout=30) as http:
        body = {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": f"{EXT}:kind", "value": "chat"}],
        }
        answer = await http.patch(f"Groups/{group.id}", json=body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["scimType"] == "mutability"

    # DELETE: the channel loses every subscriber (the organisation stays its owner of record).
    await discovered.delete(model, group.id)  # type: ignore[arg-type]
    assert await channel_of(head, title) is None


async def test_a_chat_group_given_the_kind_channel_later_becomes_a_channel(
    discovered: AsyncSCIMClient, signup: Signup, scim_node: Any
) -> None:
    alice = await signup(node_=scim_node)
    assert alice.phone
    a = await _user(discovered, alice.phone)
    title = f"Club {secrets.token_hex(2)}"
    group = await discovered.create(_group(discovered, {"displayName": title, "members": [{"value": a}]}))
    assert [c["title"] for c in await alice.request("GET", "/v1/chats")].count(title) == 1
    model = discovered.provider.model_for("Group")
    add = PatchOp[model](operations=[{"op": "add", "path": f"{EXT}:kind", "value": "channel"}])  # type: ignore[valid-type]
    await discovered.modify(model, group.id, add)
    assert (await channel_of(alice, title) or {}).get("role") == "subscriber"
    assert title not in [c["title"] for c in await alice.request("GET", "/v1/chats")]
