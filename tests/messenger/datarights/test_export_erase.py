"""Export and account deletion over real HTTP cover every feature; afterwards no table names the user."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from dr_scan import scan
from PIL import Image

from messenger.client import ApiFailure, MessengerClient
from messenger.datarights.registry import ERASED_USER


def png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(out, "PNG")
    return out.getvalue()


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


async def _fails(call: Any) -> tuple[int, str]:
    try:
        await call
    except ApiFailure as exc:
        return exc.status, exc.error
    raise AssertionError("the request succeeded")


async def _meeting(organizer: MessengerClient, invitees: list[str], title: str) -> dict[str, Any]:
    start = (datetime.now(ZoneInfo("Europe/Moscow")) + timedelta(hours=2)).replace(tzinfo=None, microsecond=0)
    body = {
        "title": title,
        "start": start.isoformat(),
        "timezone": "Europe/Moscow",
        "duration_minutes": 30,
        "invitees": invitees,
    }
    result: dict[str, Any] = await organizer.request("POST", "/v1/meetings", json=body)
    return result


async def _populate(alice: MessengerClient, bob: MessengerClient, carol: MessengerClient) -> dict[str, Any]:
    """Give alice data in every feature; returns the ids the test checks."""
    group = await alice.create_group([bob.user_id], "expedition")
    private = await alice.open_private(bob.user_id)
    await alice.send(group, "hello group")
    await bob.send(private, "hi alice")
    photo = png(40, 30)
    media = await alice.http.post(
        "/v1/media", params={"kind": "photo", "chat_id": group, "filename": "summit.png"}, content=photo
    )
    assert media.status_code == 201
    doc = await alice.http.post(
        "/v1/media", params={"kind": "document", "filename": "quartermaster.txt"}, content=b"tent, rope"
    )
    assert doc.status_code == 201

    call = await alice.request("POST", "/v1/calls", json={"chat_id": private, "media": "audio"})
    await bob.request("POST", f"/v1/calls/{call['id']}/accept")
    await alice.request("POST", f"/v1/calls/{call['id']}/hangup")

    hers = await _meeting(alice, [bob.user_id], "Alice's briefing")
    bobs = await _meeting(bob, [alice.user_id, carol.user_id], "Bob's review")
    await alice.request("POST", f"/v1/meetings/{bobs['id']}/rsvp", json={"response": "accepted"})

    await alice.request("POST", f"/v1/chats/{group}/locations", json={"lat": 55.75, "lon": 37.62})
    await alice.request(
        "POST", f"/v1/chats/{group}/locations", json={"lat": 55.76, "lon": 37.6, "live_seconds": 600}
    )
    await alice.request("POST", "/v1/contacts", json={"hashes": [sha(bob.phone or ""), sha("+79990000001")]})

    own = await alice.request("POST", "/v1/channels", json={"title": "Lighthouse notes"})
    await alice.request("POST", f"/v1/channels/{own['id']}/posts", json={"text": "lighthouse keeper diary"})
    await bob.request("PUT", f"/v1/channels/{own['id']}/subscription")
    shared = await carol.request("POST", "/v1/channels", json={"title": "Harbour news"})
    await carol.request("PUT", f"/v1/channels/{shared['id']}/owners/{alice.user_id}")
    await alice.request("POST", f"/v1/channels/{shared['id']}/posts", json={"text": "harbour tide table"})
    bobs_channel = await bob.request("POST", "/v1/channels", json={"title": "Bob's bulletin"})
    await alice.request("PUT", f"/v1/channels/{bobs_channel['id']}/subscription")

    pool = await alice.request("PUT", "/v1/tariff", json={"plan": "family"})
    await alice.request("POST", "/v1/tariff/members", json={"user_id": bob.user_id})
    await bob.request(
        "POST", "/v1/tariff/invitations/accept", json={"subscription_id": pool["subscription_id"]}
    )

    await carol.request("PUT", f"/v1/admin/roles/{alice.user_id}", json={"role": "admin"})
    await alice.request("PUT", f"/v1/admin/roles/{bob.user_id}", json={"role": "support"})
    return {
        "group": group,
        "private": private,
        "photo": photo,
        "photo_id": media.json()["id"],
        "call": call["id"],
        "her_meeting": hers["id"],
        "bobs_meeting": bobs["id"],
        "own_channel": own["id"],
        "shared_channel": shared["id"],
        "bobs_channel": bobs_channel["id"],
        "pool": pool["subscription_id"],
    }


async def test_export_and_erase_cover_every_feature(drnode: Any, signup: Any, admin_phone: str) -> None:
    alice, bob = await signup(node_=drnode), await signup(node_=drnode)
    carol = await signup(phone=admin_phone, node_=drnode)
    ids = await _populate(alice, bob, carol)

    r = await alice.http.get("/v1/account/export")
    assert r.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(r.content))
    data = json.loads(archive.read("account.json"))
    assert data["user"]["id"] == alice.user_id and data["user"]["phone"] == alice.phone
    assert sorted(c["id"] for c in data["chats"]) == sorted([ids["group"], ids["private"]])
    photo = next(m for m in data["media"] if m["id"] == ids["photo_id"])
    assert archive.read(photo["path"]) == ids["photo"]
    assert {m["filename"] for m in data["media"]} == {"summit.png", "quartermaster.txt"}
    [call] = data["calls"]
    assert call["id"] == ids["call"] and {p["user_id"] for p in call["participants"]} == {
        alice.user_id,
        bob.user_id,
    }
    assert [u["calls"] for u in data["call_usage"]] == [1]
    meetings = {m["id"]: m for m in data["meetings"]}
    assert set(meetings) == {ids["her_meeting"], ids["bobs_meeting"]}
    assert {"user_id": alice.user_id, "rsvp": "accepted"} in meetings[ids["bobs_meeting"]]["invitees"]
    assert [(loc["lat"], loc["live"]) for loc in data["locations"]] == [(55.75, False), (55.76, True)]
    assert {c["hash"]: c["user_id"] for c in data["contacts"]} == {
        sha(bob.phone or ""): bob.user_id,
        sha("+79990000001"): None,
    }
    roles = {c["id"]: c["role"] for c in data["channels"]}
    assert roles == {
        ids["own_channel"]: "owner",
        ids["shared_channel"]: "owner",
        ids["bobs_channel"]: "subscriber",
    }
    assert sorted(p["text"] for p in data["channel_posts"]) == [
        "harbour tide table",
        "lighthouse keeper diary",
    ]
    assert data["tariff"]["subscription_id"] == ids["pool"] and data["tariff"]["plan"] == "family"
    assert data["operator_role"]["role"] == "admin"
    assert "data.exported" not in [a["action"] for a in data["audit"]]  # audited after the read

    before = await scan(drnode.db_url, [alice.user_id])
    assert {"members.user_id", "call_usage.user_id", "locations.user_id", "channel_members.user_id"} <= set(
        before
    )

    r = await alice.http.request("DELETE", "/v1/account", json={"phone": alice.phone})
    assert r.status_code == 204

    assert await scan(drnode.db_url, [alice.user_id, alice.phone or "", alice.device_id]) == {}
    # what stays for the others, without her
    assert (await _fails(bob.request("GET", f"/v1/channels/{ids['own_channel']}")))[1] == "channel_not_found"
    posts = await carol.request("GET", f"/v1/channels/{ids['shared_channel']}/posts")
    assert [(p["author"], p["text"]) for p in posts] == [(ERASED_USER, "harbour tide table")]
    assert (await bob.request("GET", f"/v1/channels/{ids['bobs_channel']}"))["subscribers"] == 1
    found = await bob.request("GET", "/v1/search", params={"q": "lighthouse"})
    assert found["posts"] == [] and found["channels"] == []
    assert [m["id"] for m in await bob.request("GET", "/v1/meetings")] == [ids["bobs_meeting"]]
    review = await bob.request("GET", f"/v1/meetings/{ids['bobs_meeting']}")
    assert [i["user_id"] for i in review["invitees"]] == [carol.user_id]
    record = await bob.request("GET", f"/v1/calls/{ids['call']}")
    assert record["created_by"] == ERASED_USER and [p["user_id"] for p in record["participants"]] == [
        bob.user_id
    ]
    assert (await bob.request("GET", "/v1/tariff"))["subscription_id"] is None
    history = await bob.history(ids["group"])
    assert [(m["sender"], m["deleted"]) for m in history] == [(ERASED_USER, True)]
    await bob.send(ids["private"], "still here")  # the private chat lives on for bob
