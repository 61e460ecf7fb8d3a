"""Encrypted attachments (``messenger.client.attachments``) through the real node; the scan of the
node's store for their plaintexts and keys is in tests/messenger/test_at_rest.py."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from media_files import ogg_opus, png

from messenger.client import MessengerClient, attachments

Signup = Callable[..., Awaitable[MessengerClient]]


async def test_the_same_file_twice_is_two_objects(signup: Signup) -> None:
    """No dedup of encrypted uploads: equal files do not even share an id (fresh key, random id)."""
    alice, bob = await signup(), await signup()
    chat = await alice.open_private(bob.user_id)
    voice = ogg_opus(3.0)
    a = await attachments.upload(alice, chat, voice, "voice")
    b = await attachments.upload(bob, chat, voice, "voice")
    assert a["media_id"] != b["media_id"] and a["sha256"] != b["sha256"]
    assert a["duration_ms"] == 3000 and "waveform" not in a  # Opus is not decoded here
    assert await attachments.download(alice, chat, b) == voice


async def test_a_download_that_does_not_match_its_message_is_refused(signup: Signup) -> None:
    alice, bob = await signup(), await signup()
    chat = await alice.open_private(bob.user_id)
    info = await attachments.upload(alice, chat, png(20, 20), "photo")
    other = await attachments.upload(alice, chat, png(30, 30), "photo")
    try:
        await attachments.download(bob, chat, {**info, "media_id": other["media_id"]})
    except attachments.AttachmentError as exc:
        assert "do not match" in str(exc)
    else:
        raise AssertionError("a swapped object was decrypted")


async def test_encrypted_uploads_keep_the_size_limit_and_refuse_plain_metadata(signup: Signup) -> None:
    alice = await signup()
    too_big = await alice.http.post(
        "/v1/media", params={"kind": "voice", "encrypted": "true"}, content=bytes(16_000_001)
    )
    assert too_big.status_code == 413 and too_big.json()["error"] == "payload_too_large"
    named = await alice.http.post(
        "/v1/media", params={"kind": "photo", "encrypted": "true", "filename": "a.png"}, content=b"x"
    )
    assert named.status_code == 422 and named.json()["error"] == "metadata_not_allowed"
    opaque = await alice.http.post(
        "/v1/media", params={"kind": "photo", "encrypted": "true"}, content=b"\x01" * 9
    )
    assert opaque.status_code == 201 and opaque.json()["kind"] == "photo"  # the node does not look inside
