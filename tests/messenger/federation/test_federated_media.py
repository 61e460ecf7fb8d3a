"""Media shared in a chat with members in other states: a member fetches it from their own home node,
which gets it from the node that has it over signed federation (real nodes, real HTTP between them)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from fednodes import ALLOWED_FAKE, Nodes, signed_put
from media_files import png
from waits import wait_for

from messenger.client import MessengerClient, attachments

FETCH = "/_federation/v1/media/fetch"


async def _chat_visible(client: MessengerClient, chat_id: str) -> None:
    async def check() -> bool:
        return any(c["id"] == chat_id for c in await client.request("GET", "/v1/chats"))

    await wait_for(check, what=f"chat {chat_id} on {client.base_url}")


def _files_containing(root: Path, needle: bytes) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


async def test_member_in_another_state_downloads_media_through_their_home_node(
    three_states: Nodes, login: Any
) -> None:
    mow, spe, nvs = three_states["RU-MOW"], three_states["RU-SPE"], three_states["RU-NVS"]
    a = await login(mow)
    b = await login(spe)
    outsider = await login(nvs)
    other = await login(nvs)
    chat_id = await a.create_group([b.user_id], "media")  # hosted by RU-MOW; RU-NVS has no member
    unrelated = await other.open_private(outsider.user_id)  # a chat of RU-NVS only
    await _chat_visible(b, chat_id)

    data = b"%PDF-1.4\n" + os.urandom(300_000)
    up = await a.http.post("/v1/media", params={"kind": "document", "chat_id": chat_id}, content=data)
    assert up.status_code == 201, up.text
    media_id = up.json()["id"]

    # Without naming the chat, RU-SPE does not know where to look: 404, nothing fetched.
    assert (await b.http.get(f"/v1/media/{media_id}")).status_code == 404
    got = await b.http.get(f"/v1/media/{media_id}", params={"chat_id": chat_id})
    assert got.status_code == 200, got.text
    assert got.content == data
    part = await b.http.get(
        f"/v1/media/{media_id}", params={"chat_id": chat_id}, headers={"Range": "bytes=1000-1999"}
    )
    assert part.status_code == 206 and part.content == data[1000:2000]
    assert part.headers["content-range"] == f"bytes 1000-1999/{len(data)}"
    meta = await b.request("GET", f"/v1/media/{media_id}/meta")  # the copy is now readable by chat
    assert meta["size"] == len(data) and meta["kind"] == "document"
    # The copy at RU-SPE is sealed with RU-SPE's own key: no file there holds the plaintext.
    assert any(p.is_file() for p in (spe.data_dir / "media").rglob("*")), "no copy stored at RU-SPE"
    assert _files_containing(spe.data_dir, data[5000:5064]) == []

    # A user of a state without a member in the chat gets 404, whatever chat they name.
    for hint in (chat_id, unrelated):
        resp = await outsider.http.get(f"/v1/media/{media_id}", params={"chat_id": hint})
        assert resp.status_code == 404 and resp.json()["error"] == "media_not_found"
    assert await nvs.rows("SELECT id FROM media_objects") == []
    # ... and so does a peer node asking for it directly.
    resp = await signed_put(
        mow,
        FETCH,
        {"media_id": media_id, "chat_id": chat_id},
        origin=ALLOWED_FAKE,
        key=three_states.fakes[ALLOWED_FAKE],
        method="POST",
    )
    assert resp.status_code == 404 and resp.json()["error"] == "media_not_found"
    # RU-SPE asking for media that was never shared in the chat gets 404 as well.
    mine = await a.http.post("/v1/media", params={"kind": "document"}, content=b"%PDF-1.4\nprivate")
    not_shared = mine.json()["id"]
    resp = await b.http.get(f"/v1/media/{not_shared}", params={"chat_id": chat_id})
    assert resp.status_code == 404


async def test_encrypted_media_crosses_states_as_the_same_opaque_bytes(
    three_states: Nodes, login: Any
) -> None:
    """An end-to-end encrypted attachment is fetched across states as the ciphertext it is (no node has
    a key for it); the member's client checks and decrypts it, thumbnail included."""
    mow, spe = three_states["RU-MOW"], three_states["RU-SPE"]
    a, b = await login(mow), await login(spe)
    chat_id = await a.create_group([b.user_id], "photos")
    await _chat_visible(b, chat_id)
    photo = png(200, 100)
    info = await attachments.upload(a, chat_id, photo, "photo")

    assert await attachments.download(b, chat_id, info) == photo
    assert await attachments.download(b, chat_id, info["thumbnail"])
    at_spe = await b.request("GET", f"/v1/media/{info['media_id']}/meta")
    at_mow = await a.request("GET", f"/v1/media/{info['media_id']}/meta")
    assert at_spe["encrypted"] and at_spe["size"] == at_mow["size"]
    ciphertext = (await a.http.get(f"/v1/media/{info['media_id']}")).content
    assert _files_containing(spe.data_dir / "media", ciphertext)  # stored as it came, not re-sealed
    part = await b.http.get(f"/v1/media/{info['media_id']}", headers={"Range": "bytes=10-19"})
    assert part.status_code == 206 and part.content == ciphertext[10:20]
