"""Hostile and broken SCIM requests: each gets a 4xx SCIM Error (application/scim+json), never a 500."""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from scim_helpers import Org

ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"


def scim_error(response: httpx.Response, status: int, scim_type: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/scim+json"), response.headers
    body: dict[str, Any] = response.json()
    assert body["schemas"] == [ERROR] and body["status"] == str(status), body
    if scim_type is not None:
        assert body.get("scimType") == scim_type, body
    return body


@pytest.fixture
async def http(org: Org) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"{org.base}/", headers=org.headers, timeout=30) as client:
        yield client


def user(phone: str | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": f"u{secrets.token_hex(4)}",
        **extra,
    }
    if phone:
        body["phoneNumbers"] = [{"value": phone, "type": "mobile"}]
    return body


async def test_authentication(org: Org) -> None:
    async with httpx.AsyncClient(base_url=f"{org.base}/") as anonymous:
        response = await anonymous.get("Users")
        scim_error(response, 401)
        assert response.headers["www-authenticate"] == "Bearer"
        scim_error(await anonymous.get("Users", headers={"Authorization": "Bearer not-a-token"}), 401)
        scim_error(await anonymous.get("ServiceProviderConfig", headers={"Authorization": "Basic eDp5"}), 401)


async def test_broken_bodies(http: httpx.AsyncClient) -> None:
    json_type = {"Content-Type": "application/scim+json"}
    scim_error(await http.post("Users", content=b"{not json", headers=json_type), 400, "invalidSyntax")
    scim_error(await http.post("Users", content=b"[" * 200_000, headers=json_type), 400, "invalidSyntax")
    scim_error(await http.post("Users", content=b"\xff\xfe", headers=json_type), 400, "invalidSyntax")
    for body in ([], "x", 7, None, {"userName": 5}, {"schemas": ["urn:nope"], "userName": "a"}, {"id": "x"}):
        scim_error(await http.post("Users", json=body), 400)
        scim_error(await http.post("Groups", json=body), 400)
    scim_error(await http.post("Users", json=user(userName="x" * 500)), 400, "invalidValue")
    scim_error(await http.post("Users", json=user("not a phone")), 400, "invalidValue")
    scim_error(await http.post("Users/.search", json=[1]), 400)


async def test_huge_bodies(http: httpx.AsyncClient) -> None:
    huge = json.dumps(user(displayName="x" * 2_000_000)).encode()
    scim_error(await http.post("Users", content=huge, headers={"Content-Type": "application/scim+json"}), 413)

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: refused while streaming
        for _ in range(40):
            yield b" " * 65_536

    scim_error(await http.post("Users", content=chunks()), 413)


async def test_hostile_filters_and_paging(http: httpx.AsyncClient) -> None:
    long = " or ".join(f'userName eq "{i}"' for i in range(200))
    scim_error(await http.get("Users", params={"filter": long}), 400, "invalidFilter")
    deep = "(" * 40 + 'userName eq "a"' + ")" * 40
    scim_error(await http.get("Users", params={"filter": deep}), 400, "invalidFilter")
    for junk in ("userName eq", "userName zz 1", '"a" eq userName', "((", 'emails[type eq "work"', "\x00"):
        scim_error(await http.get("Users", params={"filter": junk}), 400, "invalidFilter")
    scim_error(await http.get("Users", params={"startIndex": "abc"}), 400)
    scim_error(await http.get("Groups", params={"count": "1e9"}), 400)
    assert (await http.post("Users", json=user())).status_code == 201
    none = await http.get("Users", params={"count": "-5", "startIndex": "-3"})  # read as count=0, start 1
    assert none.status_code == 200 and none.json()["totalResults"] == 1 and not none.json().get("Resources")


async def test_conflicts_preconditions_and_patches(http: httpx.AsyncClient, org: Org) -> None:
    created = await http.post("Users", json=user(userName="same.name"))
    assert created.status_code == 201, created.text
    uid, tag = created.json()["id"], created.headers["etag"]
    scim_error(await http.post("Users", json=user(userName="SAME.NAME")), 409, "uniqueness")
    assert (await http.get(f"Users/{uid}", headers={"If-None-Match": tag})).status_code == 304
    scim_error(await http.put(f"Users/{uid}", json=user(), headers={"If-Match": 'W/"999"'}), 412)
    scim_error(await http.delete(f"Users/{uid}", headers={"If-Match": 'W/"999"'}), 412)
    for ops in (
        [{"op": "explode", "path": "active", "value": True}],
        [{"op": "remove"}],
        [{"op": "replace", "path": "nope.nope", "value": 1}],
        [{"op": "add", "path": "active", "value": "not a bool"}],
        [],
    ):
        scim_error(await http.patch(f"Users/{uid}", json={"schemas": [PATCH], "Operations": ops}), 400)
    scim_error(await http.patch(f"Users/{uid}", json={"Operations": "x"}), 400)
    scim_error(await http.get("Users/nobody"), 404)
    scim_error(await http.get("Nope"), 404)
    scim_error(await http.delete("ServiceProviderConfig"), 405)
    members = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "G"}
    scim_error(await http.post("Groups", json={**members, "members": [{"value": "s0000000000000000"}]}), 400)
    group = await http.post("Groups", json=members)
    assert group.status_code == 201, group.text
    add = {"op": "add", "path": "members", "value": [{"value": "sdeadbeefdeadbeef"}]}
    scim_error(
        await http.patch(f"Groups/{group.json()['id']}", json={"schemas": [PATCH], "Operations": [add]}), 400
    )


PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


async def test_a_bad_group_extension(http: httpx.AsyncClient) -> None:
    ext = "urn:msgfleet:params:scim:schemas:extension:2.0:Group"

    def group(**extension: Any) -> dict[str, Any]:
        return {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group", ext],
            "displayName": "news",
            ext: extension,
        }

    scim_error(await http.post("Groups", json=group(kind="newsletter")), 400)
    scim_error(await http.post("Groups", json=group(kind="channel", owners=[{"value": "nobody"}])), 400)
    made = await http.post("Groups", json=group(kind="channel"))
    assert made.status_code == 201, made.text
    replaced = await http.put(f"Groups/{made.json()['id']}", json=group(kind="chat"))
    scim_error(replaced, 400, "mutability")
