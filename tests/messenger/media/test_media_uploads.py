"""Media over real HTTP: streamed upload, sniffed types, limits, dedup, ranges, thumbnails, access."""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
from media_files import PDF, png
from PIL import Image

from messenger.client import MessengerClient
from messenger.media.crypto import sealed_size


async def upload(
    client: MessengerClient, data: bytes | AsyncIterator[bytes], **params: Any
) -> httpx.Response:
    return await client.http.post("/v1/media", params=params, content=data)


def store_files(node: Any) -> list[Path]:
    return [p for p in (node.data_dir / "media" / "objects").rglob("*") if p.is_file()]


async def test_photo_upload_thumbnail_and_access(anode: Any, signup: Any) -> None:
    alice, bob, carol = [await signup(node_=anode) for _ in range(3)]
    chat = await alice.open_private(bob.user_id)
    data = png(1200, 800)
    r = await upload(alice, data, kind="photo", chat_id=chat, filename="holiday.png")
    assert r.status_code == 201, r.text
    meta = r.json()
    assert meta["id"] == hashlib.sha256(data).hexdigest()
    assert (meta["content_type"], meta["size"], meta["width"], meta["height"]) == (
        "image/png",
        len(data),
        1200,
        800,
    )

    got = await bob.http.get(f"/v1/media/{meta['id']}")
    assert got.status_code == 200 and got.content == data
    assert got.headers["content-type"] == "image/png" and got.headers["accept-ranges"] == "bytes"

    thumb = await bob.http.get(f"/v1/media/{meta['id']}/thumbnail")
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    with Image.open(io.BytesIO(thumb.content)) as img:
        assert img.format == "JPEG" and img.width == 320
        assert abs(img.height - 800 * 320 / 1200) <= 1  # aspect ratio kept

    listed = await bob.request("GET", f"/v1/chats/{chat}/media")
    assert [(m["id"], m["shared_by"]) for m in listed] == [(meta["id"], alice.user_id)]

    # carol is in no chat where it was shared: 404 for the bytes, thumbnail, metadata and the chat's list
    for path in (
        f"/v1/media/{meta['id']}",
        f"/v1/media/{meta['id']}/thumbnail",
        f"/v1/media/{meta['id']}/meta",
    ):
        r = await carol.http.get(path)
        assert (r.status_code, r.json()["error"]) == (404, "media_not_found")
    r = await carol.http.get(f"/v1/chats/{chat}/media")
    assert (r.status_code, r.json()["error"]) == (404, "chat_not_found")
    # bob may forward it into a chat with carol; carol may not share what she cannot read
    r = await carol.http.post(f"/v1/media/{meta['id']}/shares", json={"chat_id": chat})
    assert r.status_code == 404
    chat_bc = await bob.open_private(carol.user_id)
    assert (
        await bob.http.post(f"/v1/media/{meta['id']}/shares", json={"chat_id": chat_bc})
    ).status_code == 204
    assert (await carol.http.get(f"/v1/media/{meta['id']}")).content == data
    metrics = (await httpx.AsyncClient(timeout=60).get(f"{anode.url}/metrics")).text
    assert 'msgfleet_media_uploads_total{kind="photo",result="stored"}' in metrics
    # without a token: 401
    assert (await httpx.AsyncClient(timeout=60).get(f"{anode.url}/v1/media/{meta['id']}")).status_code == 401


async def test_content_type_from_bytes_not_name(anode: Any, signup: Any) -> None:
    alice = await signup(node_=anode)
    before = len(store_files(anode))
    r = await alice.http.post(
        "/v1/media",
        params={"kind": "photo", "filename": "cat.jpg"},
        content=PDF,
        headers={"Content-Type": "image/jpeg"},
    )
    assert r.status_code == 415 and r.json()["error"] == "unsupported_media_type"
    assert "application/pdf" in r.json()["detail"]
    # a PNG signature followed by garbage sniffs as PNG but does not decode
    r = await upload(alice, b"\x89PNG\r\n\x1a\n" + os.urandom(5000), kind="photo")
    assert (r.status_code, r.json()["error"]) == (422, "invalid_image")
    # a PDF as a document is stored and served as application/pdf whatever the name says
    r = await upload(alice, PDF + os.urandom(8), kind="document", filename="cat.jpg")
    assert r.status_code == 201 and r.json()["content_type"] == "application/pdf"
    got = await alice.http.get(f"/v1/media/{r.json()['id']}")
    assert got.headers["content-type"] == "application/pdf"
    assert (
        got.headers["content-disposition"] == "attachment"
        and got.headers["x-content-type-options"] == "nosniff"
    )
    r = await upload(alice, f"привет, plain text {os.urandom(4).hex()}\n".encode(), kind="document")
    assert r.json()["content_type"] == "text/plain"
    assert len(store_files(anode)) == before + 2  # the refused uploads left nothing behind
    r = await upload(alice, b"", kind="document")
    assert (r.status_code, r.json()["error"]) == (400, "empty_upload")
    r = await upload(alice, PDF, kind="sticker")
    assert r.status_code == 422


async def test_size_limits_per_type_streamed(anode: Any, signup: Any) -> None:
    alice, bob = await signup(node_=anode), await signup(node_=anode)
    chat = await alice.open_private(bob.user_id)
    before = len(store_files(anode))

    async def chunks(total: int, first: bytes) -> AsyncIterator[bytes]:
        yield first
        sent = len(first)
        while sent < total:
            piece = min(65_536, total - sent)
            sent += piece
            yield bytes(piece)

    # no Content-Length (chunked): the node counts while streaming; photo limit 1,000,000 bytes
    r = await upload(alice, chunks(2_000_000, PDF), kind="document", chat_id=chat)
    assert r.status_code == 201  # exactly the document limit (2,000,000 bytes)
    r = await upload(alice, chunks(2_000_001, PDF), kind="document", chat_id=chat)
    assert (r.status_code, r.json()["error"]) == (413, "payload_too_large")
    assert "2000000" in r.json()["detail"]
    # with a Content-Length over the photo limit (1,000,000): refused from the header
    r = await upload(alice, b"x" * 1_000_001, kind="photo")
    assert (r.status_code, r.json()["error"]) == (413, "payload_too_large")
    assert len(store_files(anode)) == before + 1
    assert list((anode.data_dir / "media" / ".spool").iterdir()) == []
    assert [m["size"] for m in await bob.request("GET", f"/v1/chats/{chat}/media")] == [2_000_000]


async def test_ranges_across_chunks(anode: Any, signup: Any) -> None:
    alice = await signup(node_=anode)
    data = PDF + os.urandom(300_000)
    media_id = (await upload(alice, data, kind="document")).json()["id"]
    size = len(data)
    cases = {
        "bytes=0-99": (0, 99),
        "bytes=65530-65545": (65530, 65545),  # crosses the first 64 KiB sealed chunk
        "bytes=131000-": (131000, size - 1),
        "bytes=-10": (size - 10, size - 1),
        f"bytes={size - 5}-{size + 100}": (size - 5, size - 1),
    }
    for header, (start, end) in cases.items():
        r = await alice.http.get(f"/v1/media/{media_id}", headers={"Range": header})
        assert r.status_code == 206, header
        assert r.content == data[start : end + 1], header
        assert r.headers["content-range"] == f"bytes {start}-{end}/{size}"
        assert int(r.headers["content-length"]) == end - start + 1
    r = await alice.http.get(f"/v1/media/{media_id}", headers={"Range": f"bytes={size}-"})
    assert (r.status_code, r.headers["content-range"]) == (416, f"bytes */{size}")
    r = await alice.http.get(f"/v1/media/{media_id}", headers={"Range": "bytes=0-1,5-6"})
    assert r.status_code == 200 and r.content == data  # several ranges: whole object (RFC 9110 §14.2)


async def test_dedup_and_encrypted_at_rest(anode: Any, signup: Any) -> None:
    alice, bob = await signup(node_=anode), await signup(node_=anode)
    marker = b"PLAINTEXT-MARKER-" * 4000
    data = PDF + marker
    first = await upload(alice, data, kind="document", filename="a.pdf")
    before = len(store_files(anode))
    second = await upload(bob, data, kind="document", filename="b.pdf")
    assert (first.status_code, second.status_code) == (201, 201)  # bob is not told alice sent them first
    assert first.json()["id"] == second.json()["id"]
    assert len(store_files(anode)) == before  # stored once
    stored = [p for p in store_files(anode) if first.json()["id"] in p.name]
    assert len(stored) == 1
    blob = stored[0].read_bytes()
    assert len(blob) == sealed_size(len(data)) and b"PLAINTEXT-MARKER" not in blob
    key_file = anode.data_dir / "keys" / "media.key"
    assert key_file.exists() and (anode.data_dir / "media") not in key_file.parents
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    assert (await bob.http.get(f"/v1/media/{first.json()['id']}")).content == data


async def test_only_the_upload_route_skips_the_body_limit(anode: Any, signup: Any) -> None:
    alice = await signup(node_=anode)
    huge = {"chat_id": "c" + "0" * 16, "pad": "x" * 1_100_000}  # over the node's 1 MiB max_body_bytes
    r = await alice.http.post(f"/v1/media/{'0' * 64}/shares", json=huge)
    assert (r.status_code, r.json()["error"]) == (413, "payload_too_large")
