"""Data rights over real HTTP: export zip (JSON + media), account deletion, retention sweeps."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from typing import Any

import boto3
import pyotp
import pytest
from clock_helpers import DevClock
from media_files import BUCKET, CREDS, PDF, S3_RETENTION, ogg_opus, png
from waits import wait_for

from messenger.client import ApiFailure, attachments
from messenger.datarights.settings import load_retention_settings
from messenger.errors import MessengerConfigError


async def test_export_zip_has_json_and_media(anode: Any, signup: Any) -> None:
    alice, bob = await signup(node_=anode), await signup(node_=anode)
    chat = await alice.create_group([bob.user_id], "trip")
    await alice.send(chat, "hello")
    await bob.send(chat, "hi alice")
    photo = png(50, 40)
    voice = ogg_opus(1.5)
    for kind, data, name in (("photo", photo, "p.png"), ("voice", voice, None)):
        params = {"kind": kind, "chat_id": chat, **({"filename": name} if name else {})}
        assert (await alice.http.post("/v1/media", params=params, content=data)).status_code == 201
    await bob.http.post("/v1/media", params={"kind": "document", "chat_id": chat}, content=PDF)

    r = await alice.http.get("/v1/account/export")
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(r.content))
    data = json.loads(archive.read("account.json"))
    assert data["format"] == "msgfleet-export/1"
    assert data["user"] == {
        "id": alice.user_id,
        "phone": alice.phone,
        "created_at": data["user"]["created_at"],
        "second_factor": {"totp": False, "pin": False},
    }
    assert [d["id"] for d in data["devices"]] == [alice.device_id]
    assert [(c["id"], c["role"]) for c in data["chats"]] == [(chat, "owner")]
    assert [(m["chat_id"], m["seq"]) for m in data["messages_sent"]] == [(chat, 1)]
    # her own messages with their ciphertext, which her device can still open with its room keys
    [sent] = data["messages_sent"]
    assert await alice.decrypt(sent) == "hello"
    media = {m["kind"]: m for m in data["media"]}
    assert set(media) == {"photo", "voice"}  # bob's document is not alice's data
    assert media["photo"]["filename"] == "p.png" and media["photo"]["shared_in"] == [chat]
    assert media["voice"]["duration_ms"] == 1500
    assert archive.read(media["photo"]["path"]) == photo
    assert archive.read(media["voice"]["path"]) == voice
    assert media["photo"]["id"] == hashlib.sha256(photo).hexdigest()
    assert [a["action"] for a in data["audit"]][:2] == ["auth.login", "device.added"]
    again = json.loads(
        zipfile.ZipFile(io.BytesIO((await alice.http.get("/v1/account/export")).content)).read("account.json")
    )
    assert "data.exported" in [a["action"] for a in again["audit"]]  # the first export was audited
    exports = anode.data_dir / "exports"

    async def removed() -> bool:
        return not list(exports.iterdir())

    await wait_for(removed, what=f"the export zip to be removed from {exports} once sent (background task)")


async def test_export_and_erase_of_encrypted_media(anode: Any, signup: Any) -> None:
    """End-to-end encrypted media is exported as the ciphertext the client uploaded (the user's own
    messages hold the key) and erased with the account."""
    alice, bob = await signup(node_=anode), await signup(node_=anode)
    chat = await alice.open_private(bob.user_id)
    photo = png(60, 40)
    await attachments.send(alice, chat, photo, "photo")
    [row] = await alice.history(chat)
    info = row["body"]["media"]

    archive = zipfile.ZipFile(io.BytesIO((await alice.http.get("/v1/account/export")).content))
    exported = {m["id"]: m for m in json.loads(archive.read("account.json"))["media"]}
    assert set(exported) == {info["media_id"], info["thumbnail"]["media_id"]}
    entry = exported[info["media_id"]]
    assert (entry["encrypted"], entry["content_type"], entry["path"][-4:]) == (
        True,
        "application/octet-stream",
        ".bin",
    )
    assert attachments.decrypt(archive.read(entry["path"]), info) == photo

    stored = anode.data_dir / "media" / "objects"
    assert [p for p in stored.rglob("*") if info["media_id"] in p.name]
    assert (await alice.http.request("DELETE", "/v1/account", json={"phone": alice.phone})).status_code == 204
    assert not [p for p in stored.rglob("*") if info["media_id"] in p.name]
    assert (await bob.http.get(f"/v1/media/{info['media_id']}")).status_code == 404


async def test_delete_account(anode: Any, signup: Any) -> None:
    alice, bob, carol = [await signup(node_=anode) for _ in range(3)]
    group = await alice.create_group([bob.user_id, carol.user_id], "team")
    await alice.request(
        "POST", f"/v1/chats/{group}/members/{carol.user_id}", json={"role": "admin"}
    ) if False else None
    await alice.request("PATCH", f"/v1/chats/{group}/members/{carol.user_id}", json={"role": "admin"})
    private = await alice.open_private(bob.user_id)
    await alice.send(group, "bye all")
    await bob.send(private, "are you leaving?")
    mine = png(30, 30)
    shared_both = PDF + b"both"
    mine_id = (
        await alice.http.post("/v1/media", params={"kind": "photo", "chat_id": group}, content=mine)
    ).json()
    both = (await alice.http.post("/v1/media", params={"kind": "document"}, content=shared_both)).json()
    await bob.http.post("/v1/media", params={"kind": "document", "chat_id": private}, content=shared_both)
    files_before = {
        p.name for p in (anode.data_dir / "media" / "objects").rglob("*") if mine_id["id"] in p.name
    }
    assert files_before  # the photo and its thumbnail are stored

    # bad confirmations change nothing
    for body, status, code in (
        ({"phone": "+79990000000"}, 400, "confirmation_mismatch"),
        ({}, 422, "validation_error"),
    ):
        r = await alice.http.request("DELETE", "/v1/account", json=body)
        assert (r.status_code, r.json()["error"]) == (status, code)
    assert (await alice.http.get("/v1/account")).status_code == 200

    async with bob.socket(resume=False) as ws:
        r = await alice.http.request("DELETE", "/v1/account", json={"phone": alice.phone})
        assert r.status_code == 204
        events = [await ws.next() for _ in range(3)]
    assert sorted((e["kind"], e["data"]["chat_id"], e["data"]["user_id"]) for e in events) == sorted(
        [
            ("member.removed", group, alice.user_id),
            ("member.role", group, carol.user_id),  # the admin inherits the group
            ("member.removed", private, alice.user_id),
        ]
    )
    # alice's token is dead; her messages are tombstones; carol (admin) owns the group now
    assert (await alice.http.get("/v1/account")).status_code == 401
    history = await bob.history(group)
    assert [(m["seq"], m["deleted"], m["ciphertext"]) for m in history] == [(1, True, None)]
    chat = await carol.request("GET", f"/v1/chats/{group}")
    assert sorted((m["user_id"], m["role"]) for m in chat["members"]) == sorted(
        [(bob.user_id, "member"), (carol.user_id, "owner")]
    )
    # media only alice uploaded is gone (rows and sealed bytes); bob's upload of the same bytes stays
    assert (await bob.http.get(f"/v1/media/{mine_id['id']}")).status_code == 404
    assert not [p for p in (anode.data_dir / "media" / "objects").rglob("*") if mine_id["id"] in p.name]
    assert (await bob.http.get(f"/v1/media/{both['id']}")).content == shared_both
    # the phone number can sign up again as a new user
    again = await signup(phone=alice.phone, node_=anode)
    assert again.user_id != alice.user_id


async def test_delete_account_needs_second_factor(anode: Any, signup: Any) -> None:
    alice = await signup(node_=anode)
    secret = (await alice.request("POST", "/v1/account/2fa/totp"))["secret"]
    await alice.request("POST", "/v1/account/2fa/totp/confirm", json={"otp": pyotp.TOTP(secret).now()})
    r = await alice.http.request("DELETE", "/v1/account", json={"phone": alice.phone, "otp": "000000"})
    assert (r.status_code, r.json()["error"]) == (401, "second_factor_invalid")
    r = await alice.http.request(
        "DELETE", "/v1/account", json={"phone": alice.phone, "otp": pyotp.TOTP(secret).now()}
    )
    assert r.status_code == 204


async def test_retention_per_chat_kind(s3_node: Any, s3_endpoint: str, signup: Any) -> None:
    """s3_node keeps an hour of group history and private chats forever; its media lives in moto's S3.
    Its clock is moved past the hour and the retention sweep run explicitly."""
    clock = DevClock(s3_node.url)
    alice, bob = await signup(node_=s3_node), await signup(node_=s3_node)
    group = await alice.create_group([bob.user_id], "ephemeral")
    private = await alice.open_private(bob.user_id)
    await alice.send(group, "old group message")
    await alice.send(private, "old private message")
    in_group = (
        await alice.http.post("/v1/media", params={"kind": "photo", "chat_id": group}, content=png(20, 20))
    ).json()
    in_both = PDF + b"retention"
    both = (
        await alice.http.post("/v1/media", params={"kind": "document", "chat_id": group}, content=in_both)
    ).json()
    await alice.request("POST", f"/v1/media/{both['id']}/shares", json={"chat_id": private})
    await alice.request("POST", f"/v1/chats/{group}/pins", json={"seq": 1})
    await clock.advance(S3_RETENTION["group"] - 60)
    await clock.sweep("retention")  # a minute short of the rule: still young, still there
    assert [m["text"] for m in await bob.history(group)] == ["old group message"]
    await clock.advance(61)
    swept = await clock.sweep("retention")  # answers when the media deletes are done too
    assert swept["messages"] >= 1 and swept["media"] >= 1
    fresh = await alice.send(group, "new group message")
    history = await bob.history(group)
    assert [(m["seq"], m["deleted"]) for m in history] == [(1, True), (fresh["seq"], False)]
    assert history[1]["text"] == "new group message"
    assert await alice.request("GET", f"/v1/chats/{group}/pins") == []
    assert [m["text"] for m in await bob.history(private)] == ["old private message"]
    # the photo shared only in the group is deleted; the document also shared privately stays
    with pytest.raises(ApiFailure) as gone:
        await alice.request("GET", f"/v1/media/{in_group['id']}/meta")
    assert gone.value.status == 404
    s3 = boto3.client("s3", endpoint_url=s3_endpoint, **CREDS)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]
    assert not [k for k in keys if in_group["id"] in k]  # sealed bytes and thumbnail deleted from S3
    assert [k for k in keys if both["id"] in k]
    assert (await bob.http.get(f"/v1/media/{both['id']}")).content == in_both
    assert [m["id"] for m in await bob.request("GET", f"/v1/chats/{group}/media")] == []


@pytest.mark.parametrize(
    ("value", "message"),
    [('{"group": -1}', "negative age for group"), ("[1]", "valid dictionary"), ('{"group": "x"}', "number")],
)
def test_bad_retention_rules_are_one_line(monkeypatch: pytest.MonkeyPatch, value: str, message: str) -> None:
    monkeypatch.setenv("MSGFLEET_RETENTION_RULES", value)
    with pytest.raises(MessengerConfigError, match="MSGFLEET_RETENTION_RULES") as exc:
        load_retention_settings()
    assert message in str(exc.value) and "\n" not in str(exc.value)
