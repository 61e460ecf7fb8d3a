"""Organisations and their tokens: created by an admin (API) or an operator (CLI), rotated, refused to
non-admins; every SCIM write is audited with the organisation as actor; data rights of provisioned people."""

from __future__ import annotations

import asyncio
import io
import json
import subprocess
import sys
import zipfile
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from scim_helpers import Org
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from messenger.client import ApiFailure, MessengerClient

Signup = Callable[..., Awaitable[MessengerClient]]
STATE = "RU-MOW"


def cli(node: Any, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "messenger", "org", *args, "--state", STATE]
    cmd += ["--data-dir", str(node.data_dir), "--database-url", node.db_url]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


async def test_only_admins_manage_organisations(
    signup: Signup, scim_node: Any, admin: MessengerClient
) -> None:
    user = await signup(node_=scim_node)
    with pytest.raises(ApiFailure) as refused:
        await user.request("POST", "/v1/admin/organisations", json={"name": "X", "kind": "school"})
    assert refused.value.status == 403
    with pytest.raises(ApiFailure) as bad:
        await admin.request("POST", "/v1/admin/organisations", json={"name": "X", "kind": "church"})
    assert bad.value.status == 422
    made = await admin.request(
        "POST", "/v1/admin/organisations", json={"name": "Gymnasium 1", "kind": "school"}
    )
    assert made["id"] in [o["id"] for o in await admin.request("GET", "/v1/admin/organisations")]
    assert all(o["token"] is None for o in await admin.request("GET", "/v1/admin/organisations"))


async def test_token_rotation(admin: MessengerClient, org: Org) -> None:
    async with httpx.AsyncClient(base_url=f"{org.base}/") as http:
        old = {"Authorization": f"Bearer {org.token}"}
        assert (await http.get("Users", headers=old)).status_code == 200
        new = (await admin.request("POST", f"/v1/admin/organisations/{org.id}/token"))["token"]
        assert (await http.get("Users", headers=old)).status_code == 401
        assert (await http.get("Users", headers={"Authorization": f"Bearer {new}"})).status_code == 200


async def test_cli_creates_an_organisation_and_rotates_its_token(scim_node: Any) -> None:
    made = await asyncio.to_thread(
        cli, scim_node, "create", "--name", "Ministry of Sport", "--kind", "ministry"
    )
    assert made.returncode == 0, made.stderr
    org_id, token = made.stdout.split()[1], made.stdout.split()[-1]
    async with httpx.AsyncClient(base_url=f"{scim_node.url}/scim/v2/") as http:
        assert (await http.get("Users", headers={"Authorization": f"Bearer {token}"})).status_code == 200
        rotated = await asyncio.to_thread(cli, scim_node, "rotate-token", org_id)
        assert rotated.returncode == 0, rotated.stderr
        assert (await http.get("Users", headers={"Authorization": f"Bearer {token}"})).status_code == 401
    wrong = await asyncio.to_thread(cli, scim_node, "create", "--name", "X", "--kind", "church")
    assert wrong.returncode == 2 and len(wrong.stderr.strip().splitlines()) == 1 and "--kind" in wrong.stderr
    missing = await asyncio.to_thread(cli, scim_node, "rotate-token", "onope")
    assert missing.returncode == 2 and "onope" in missing.stderr


async def test_writes_are_audited_and_data_rights_cover_provisioned_people(
    org: Org, signup: Signup, scim_node: Any, dump_db: Callable[[str], Awaitable[str]]
) -> None:
    alice = await signup(node_=scim_node)
    assert alice.phone
    async with httpx.AsyncClient(base_url=f"{org.base}/", headers=org.headers) as http:
        body = {"userName": "alice", "name": {"givenName": "Alice", "familyName": "Liddell"}}
        body["phoneNumbers"] = [{"value": alice.phone, "type": "mobile"}]
        # Dropped on arrival: none of these may reach any table (residency: store only what is needed).
        dropped = ["alice@school.example", "Rabbit Hole 1", "+74950000042", "Head of chess", "Allie"]
        body["emails"] = [{"value": dropped[0]}]
        body["addresses"] = [{"streetAddress": dropped[1], "type": "home"}]
        body["phoneNumbers"].append({"value": dropped[2], "type": "work"})
        body["title"] = dropped[3]
        body["nickName"] = dropped[4]
        extension = {"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"employeeNumber": "7"}}
        assert (await http.post("Users", json={**body, **extension})).status_code == 400  # not served here
        created = (await http.post("Users", json=body)).json()
        group = (
            await http.post(
                "Groups", json={"displayName": "Chess club", "members": [{"value": created["id"]}]}
            )
        ).json()
        patch = {"Operations": [{"op": "replace", "path": "displayName", "value": "Alice L."}]}
        assert (await http.patch(f"Users/{created['id']}", json=patch)).status_code == 200

        engine = create_async_engine(scim_node.db_url)
        try:
            async with engine.connect() as conn:
                rows = await conn.execute(
                    text("SELECT action, target, detail FROM audit_log WHERE actor = :a ORDER BY seq"),
                    {"a": f"org:{org.id}"},
                )
                audited = [(a, t) for a, t, _ in rows.all() if a.startswith("scim.")]
                stored = (
                    await conn.execute(text("SELECT * FROM scim_users WHERE id = :i"), {"i": created["id"]})
                ).one()
        finally:
            await engine.dispose()
        assert audited == [
            ("scim.user_created", created["id"]),
            ("scim.group_created", group["id"]),
            ("scim.user_patched", created["id"]),
        ]
        assert (stored.user_name, stored.given_name, stored.phone) == ("alice", "Alice", alice.phone)
        everything = await dump_db(scim_node.db_url)
        assert [d for d in dropped if d in everything] == []

        export = await alice.http.get("/v1/account/export")
        data = json.loads(zipfile.ZipFile(io.BytesIO(export.content)).read("account.json"))
        [record] = data["directory_records"]
        assert (record["user_name"], record["display_name"], record["groups"]) == (
            "alice",
            "Alice L.",
            ["Chess club"],
        )

        assert (
            await alice.http.request("DELETE", "/v1/account", json={"phone": alice.phone})
        ).status_code == 204
        assert (await http.get(f"Users/{created['id']}")).status_code == 404  # the record went with her
        assert (await http.get(f"Groups/{group['id']}")).json().get("members") is None
