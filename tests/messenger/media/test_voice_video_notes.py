"""Voice and video notes: duration read from the bytes, waveform, preview, correct type and ranges."""

from __future__ import annotations

from typing import Any

from media_files import mp4, ogg_opus, png


async def test_voice_note_duration_waveform_and_ranges(anode: Any, signup: Any) -> None:
    alice, bob = await signup(node_=anode), await signup(node_=anode)
    chat = await alice.open_private(bob.user_id)
    data = ogg_opus(3.5)
    wave = [0, 31, 255, 128, 7]
    r = await alice.http.post(
        "/v1/media",
        params={"kind": "voice", "chat_id": chat, "waveform": ",".join(map(str, wave))},
        content=data,
    )
    assert r.status_code == 201, r.text
    note = r.json()
    assert (note["kind"], note["content_type"]) == ("voice", "audio/ogg")
    assert note["duration_ms"] == 3500  # (granule 312 + 3.5 * 48000 − pre-skip 312) / 48 kHz
    assert note["waveform"] == wave
    meta = await bob.request("GET", f"/v1/media/{note['id']}/meta")
    assert meta == note
    part = await bob.http.get(f"/v1/media/{note['id']}", headers={"Range": "bytes=0-3"})
    assert (part.status_code, part.content, part.headers["content-type"]) == (206, b"OggS", "audio/ogg")


async def test_voice_note_bad_metadata(anode: Any, signup: Any) -> None:
    alice = await signup(node_=anode)
    data = ogg_opus(2.0)
    cases = [
        ({"duration_ms": "9000"}, "duration_mismatch"),  # the file plays 2000 ms
        ({"duration_ms": "3001"}, "duration_mismatch"),  # 1001 ms off: over the 1 s tolerance
        ({"waveform": "1,2,300"}, "invalid_waveform"),
        ({"waveform": "1,x"}, "invalid_waveform"),
        ({"waveform": ",".join(["1"] * 257)}, "invalid_waveform"),
    ]
    for params, code in cases:
        r = await alice.http.post("/v1/media", params={"kind": "voice", **params}, content=data)
        assert (r.status_code, r.json()["error"]) == (422, code), params
    r = await alice.http.post("/v1/media", params={"kind": "photo", "waveform": "1,2"}, content=png(8, 8))
    assert (r.status_code, r.json()["error"]) == (422, "invalid_waveform")
    r = await alice.http.post("/v1/media", params={"kind": "voice"}, content=png(8, 8))
    assert (r.status_code, r.json()["error"]) == (415, "unsupported_media_type")
    # nothing of the refused uploads was recorded: a later good upload of the same bytes is new
    r = await alice.http.post("/v1/media", params={"kind": "voice", "duration_ms": "3000"}, content=data)
    assert r.status_code == 201 and r.json()["duration_ms"] == 2000  # 1 s off is tolerated; measured wins


async def test_video_note_preview_and_length_limit(anode: Any, signup: Any) -> None:
    alice, bob, mallory = [await signup(node_=anode) for _ in range(3)]
    chat = await alice.open_private(bob.user_id)
    poster = (await alice.http.post("/v1/media", params={"kind": "photo"}, content=png(64, 64))).json()
    other = (await mallory.http.post("/v1/media", params={"kind": "photo"}, content=png(65, 64))).json()

    r = await alice.http.post("/v1/media", params={"kind": "video_note"}, content=mp4(60.001))
    assert (r.status_code, r.json()["error"]) == (422, "too_long")  # 60,001 ms > 60 s
    r = await alice.http.post("/v1/media", params={"kind": "video_note"}, content=mp4(60))
    assert r.status_code == 201 and r.json()["duration_ms"] == 60_000  # the limit itself is allowed
    r = await alice.http.post(
        "/v1/media", params={"kind": "video_note", "preview": other["id"]}, content=mp4(12)
    )
    assert (r.status_code, r.json()["error"]) == (422, "invalid_preview")  # mallory's photo

    r = await alice.http.post(
        "/v1/media", params={"kind": "video_note", "preview": poster["id"], "chat_id": chat}, content=mp4(12)
    )
    assert r.status_code == 201, r.text
    note = r.json()
    assert (note["content_type"], note["duration_ms"], note["preview_id"]) == (
        "video/mp4",
        12000,
        poster["id"],
    )
    got = await bob.http.get(f"/v1/media/{note['id']}", headers={"Range": "bytes=4-7"})
    assert (got.status_code, got.content, got.headers["content-type"]) == (206, b"ftyp", "video/mp4")
    # sharing the note shared its preview: bob may fetch it, mallory may fetch neither
    assert (await bob.http.get(f"/v1/media/{poster['id']}")).status_code == 200
    assert (await mallory.http.get(f"/v1/media/{note['id']}")).status_code == 404
    # a video note without a readable duration needs one declared
    r = await alice.http.post("/v1/media", params={"kind": "video_note"}, content=mp4(0))
    assert (r.status_code, r.json()["error"]) == (422, "duration_required")
