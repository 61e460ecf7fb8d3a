"""Encrypted attachments (``messenger.client.attachments``) through the real node; the scan of the
node's store for their plaintexts and keys is in tests/messenger/test_at_rest.py."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from media_files import PDF, mp4, ogg_opus, png

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


@pytest.mark.parametrize(
    ("data", "kind", "expected"),
    [
        (PDF, "photo", "application/pdf"),  # not the kind it is sent as
        (png(10, 10)[:60], "photo", "cannot be decoded"),  # truncated
        (mp4(61.0), "video_note", "at most 60000 ms"),  # the node cannot see how long it is: checked here
    ],
)
def test_the_sender_refuses_files_that_are_not_what_they_are_sent_as(
    data: bytes, kind: str, expected: str
) -> None:
    with pytest.raises(attachments.AttachmentError, match=expected):
        attachments.prepare(data, kind)
