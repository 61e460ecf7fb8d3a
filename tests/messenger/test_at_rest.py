"""End-to-end encryption: after a conversation the database and the media store hold none of the
plaintexts (messages, photos, voice notes, thumbnails) and no attachment key."""

from __future__ import annotations

import base64
import io
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from media_files import png, wav
from PIL import Image

from messenger.client import MessengerClient, attachments

Signup = Callable[..., Awaitable[MessengerClient]]


async def test_database_dump_contains_no_plaintext(signup: Signup, node: Any, dump_db: Any) -> None:
    alice, bob, carol = await signup(), await signup(), await signup()
    bob_laptop = await signup(phone=bob.phone, device_name="laptop")
    private = await alice.open_private(bob.user_id)
    group = await carol.create_group([alice.user_id, bob.user_id], "plans")
    plaintexts = [f"secret-{secrets.token_hex(6)}" for _ in range(6)]
    await alice.send(private, plaintexts[0])
    await bob.send(private, plaintexts[1], reply_to=1)
    await alice.edit(private, 1, plaintexts[2])
    await carol.send(group, plaintexts[3])
    await bob_laptop.send(group, plaintexts[4])
    await alice.send(group, plaintexts[5])

    # every recipient device can read what it was sent
    assert [m["text"] for m in await bob_laptop.history(private)] == plaintexts[2:0:-1]
    assert [m["text"] for m in await alice.history(group)] == plaintexts[3:6]

    dump = await dump_db(node.db_url)
    assert "messages" in dump and alice.user_id in dump and private in dump  # the dump is real
    leaked = [p for p in plaintexts if p in dump]
    assert leaked == []
    # nor any room key: neither a sender's outbound session key nor the receivers' inbound exports
    room_keys = [
        key
        for client in (alice, bob, bob_laptop, carol)
        for key in [o.session.session_key.to_base64() for o in client.crypto.outbound.values()]
        + [str(getattr(i.session.export_at(0), "to_base64", str)()) for i in client.crypto.inbound.values()]
    ]
    assert len(room_keys) > 8 and [k for k in room_keys if k in dump] == []
    if node.db_url.startswith("sqlite"):  # also the raw file and its write-ahead log
        raw = b"".join(p.read_bytes() for p in node.data_dir.glob("node.db*"))
        assert [p for p in plaintexts if p.encode() in raw] == []


async def test_deleting_a_message_erases_its_ciphertexts(signup: Signup, node: Any, dump_db: Any) -> None:
    alice, bob = await signup(), await signup()
    chat = await alice.open_private(bob.user_id)
    await alice.send(chat, "keep")
    await alice.send(chat, "regret")
    [kept, doomed] = [e for e in await bob.sync() if e["kind"] == "message.new"]
    await alice.delete(chat, 2)
    dump = await dump_db(node.db_url)
    assert kept["data"]["ciphertext"] in dump  # the dump would show a ciphertext that is still there
    assert doomed["data"]["ciphertext"] not in dump
    replay = (await bob.request("GET", "/v1/sync", params={"cursor": 0}))["events"]
    assert [e["data"].get("deleted", False) for e in replay if e["kind"] == "message.new"] == [False, True]


def _windows(data: bytes, width: int = 24) -> list[bytes]:
    """Slices of the plaintext spread over the file: any of them in the store would be a leak."""
    step = max(1, (len(data) - width) // 40)
    return [data[i : i + width] for i in range(0, len(data) - width, step)]


def _key_forms(info: dict[str, Any]) -> list[bytes]:
    k = info["key"]["k"]
    raw = base64.urlsafe_b64decode(k + "=" * (-len(k) % 4))
    return [raw, k.encode(), raw.hex().encode(), base64.b64encode(raw).rstrip(b"=")]


async def test_photo_and_voice_round_trip_with_no_plaintext_or_key_at_the_node(
    signup: Signup, node: Any, dump_db: Any
) -> None:
    alice, bob = await signup(), await signup()
    chat = await alice.open_private(bob.user_id)
    photo, voice = png(400, 300), wav(2.0)
    await attachments.send(alice, chat, photo, "photo", caption="the view", filename="view.png")
    await attachments.send(alice, chat, voice, "voice")

    [first, second] = await bob.history(chat)
    pic, note = first["body"]["media"], second["body"]["media"]
    assert first["text"] == "the view" and pic["filename"] == "view.png"
    assert await attachments.download(bob, chat, pic) == photo
    assert (pic["kind"], pic["mimetype"], pic["size"], pic["width"], pic["height"]) == (
        "photo",
        "image/png",
        len(photo),
        400,
        300,
    )
    thumb = await attachments.download(bob, chat, pic["thumbnail"])
    with Image.open(io.BytesIO(thumb)) as img:
        assert (img.format, img.size) == ("JPEG", (320, 240))
    assert (pic["thumbnail"]["width"], pic["thumbnail"]["height"]) == (320, 240)
    assert await attachments.download(bob, chat, note) == voice
    assert note["duration_ms"] == 2000 and len(note["waveform"]) == 100
    assert note["waveform"][-1] > note["waveform"][0]  # it gets louder, as the recording does

    # The node: opaque bytes, its own type, no thumbnail of its own, ranges over the ciphertext.
    meta = await bob.request("GET", f"/v1/media/{pic['media_id']}/meta")
    assert (meta["encrypted"], meta["content_type"], meta["width"], meta["thumbnail"]) == (
        True,
        "application/octet-stream",
        None,
        False,
    )
    whole = (await bob.http.get(f"/v1/media/{pic['media_id']}")).content
    part = await bob.http.get(f"/v1/media/{pic['media_id']}", headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == whole[100:200] and whole != photo
    assert (await bob.http.get(f"/v1/media/{pic['media_id']}/thumbnail")).status_code == 404

    stored = b"".join(p.read_bytes() for p in (node.data_dir / "media").rglob("*") if p.is_file())
    assert whole in stored  # the scan reads the real store
    dump = (await dump_db(node.db_url)).encode()
    if node.db_url.startswith("sqlite"):
        dump += b"".join(p.read_bytes() for p in node.data_dir.glob("node.db*"))
    for plain in (photo, voice, thumb):
        assert [w for w in _windows(plain) if w in stored or w in dump] == []
    for info in (pic, pic["thumbnail"], note):
        assert [k for k in _key_forms(info) if k in stored or k in dump] == []
