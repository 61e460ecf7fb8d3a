"""Hostile uploads: truncated audio/video, decompression bombs, path-like file names, dedup probing."""

from __future__ import annotations

import struct
import zlib
from typing import Any

import pytest
from media_files import mp4, ogg_opus, png


@pytest.mark.parametrize(
    ("kind", "data", "content_type"),
    [
        ("video", mp4(5.0)[:30], "video/mp4"),
        ("video_note", mp4(5.0)[:30], "video/mp4"),
        ("voice", ogg_opus(3.0)[:40], "audio/ogg"),
        ("audio", ogg_opus(3.0)[:40], "audio/ogg"),
    ],
    ids=["mp4-video", "mp4-video-note", "ogg-voice", "ogg-audio"],
)
async def test_truncated_audio_and_video_are_refused(
    anode: Any, signup: Any, kind: str, data: bytes, content_type: str
) -> None:
    alice = await signup(node_=anode)
    r = await alice.http.post("/v1/media", params={"kind": kind, "duration_ms": "3000"}, content=data)
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "invalid_media" and content_type in r.json()["detail"]


def png_header_only(width: int, height: int) -> bytes:
    """A small PNG whose IHDR claims ``width`` × ``height``, with one tiny compressed row run (a bomb:
    a few hundred KB of zeros inflate to the full image when decoded)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = zlib.compress(bytes(1 + 3 * width) * 64, 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


async def test_image_with_too_many_pixels_is_refused_before_decoding(anode: Any, signup: Any) -> None:
    alice = await signup(node_=anode)
    bomb = png_header_only(8900, 8900)
    assert len(bomb) < 100_000
    r = await alice.http.post("/v1/media", params={"kind": "photo"}, content=bomb)
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "image_too_large" and "8900" in r.json()["detail"]
    r = await alice.http.post("/v1/media", params={"kind": "photo"}, content=png(40, 30))
    assert r.status_code == 201 and (r.json()["width"], r.json()["height"]) == (40, 30)


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\system.ini", "system.ini"),
        ("/abs/path/отчёт.pdf", "отчёт.pdf"),
        ("a\x00b\nc.txt", "abc.txt"),
        ("..", None),
        ("plain.txt", "plain.txt"),
    ],
)
async def test_file_names_are_stored_as_a_base_name(
    signup: Any, node_sql: Any, given: str, stored: str | None
) -> None:
    alice = await signup()
    data = f"a document called {given!r}".encode()
    r = await alice.http.post("/v1/media", params={"kind": "document", "filename": given}, content=data)
    assert r.status_code == 201, r.text
    rows = await node_sql(
        "SELECT filename FROM media_uploads WHERE media_id = :id AND user_id = :user",
        id=r.json()["id"],
        user=alice.user_id,
    )
    assert rows == [(stored,)]


async def test_dedup_does_not_tell_a_stranger_the_file_exists(anode: Any, signup: Any) -> None:
    alice, bob, mallory = [await signup(node_=anode) for _ in range(3)]
    chat = await alice.open_private(bob.user_id)
    private = png(33, 21)
    first = await alice.http.post("/v1/media", params={"kind": "photo", "chat_id": chat}, content=private)
    assert first.status_code == 201
    fresh = await mallory.http.post("/v1/media", params={"kind": "photo"}, content=png(34, 21))
    probe = await mallory.http.post("/v1/media", params={"kind": "photo"}, content=private)
    assert probe.status_code == fresh.status_code == 201, probe.text
    assert probe.json()["created_at"] > first.json()["created_at"]
    assert (await mallory.http.get(f"/v1/media/{probe.json()['id']}/meta")).json() == probe.json()
    again = await mallory.http.post("/v1/media", params={"kind": "photo"}, content=private)
    assert again.status_code == 200  # a retry of one's own upload is still recognised
    assert again.json()["created_at"] == probe.json()["created_at"]
    assert (await alice.http.get(f"/v1/media/{first.json()['id']}/meta")).json() == first.json()


async def test_dedup_does_not_share_another_uploaders_preview(anode: Any, signup: Any) -> None:
    """The same video bytes uploaded again into a stranger's chat: the first uploader's poster stays hers."""
    alice, mallory, eve = [await signup(node_=anode) for _ in range(3)]
    poster = (await alice.http.post("/v1/media", params={"kind": "photo"}, content=png(48, 27))).json()
    video = mp4(7.0)
    note = await alice.http.post(
        "/v1/media", params={"kind": "video", "preview": poster["id"]}, content=video
    )
    assert note.status_code == 201 and note.json()["preview_id"] == poster["id"]
    chat = await mallory.open_private(eve.user_id)
    again = await mallory.http.post("/v1/media", params={"kind": "video", "chat_id": chat}, content=video)
    assert again.status_code == 201
    assert (await eve.http.get(f"/v1/media/{again.json()['id']}")).status_code == 200  # the video: shared
    for who in (mallory, eve):
        assert (await who.http.get(f"/v1/media/{poster['id']}")).status_code == 404  # alice's poster: not
