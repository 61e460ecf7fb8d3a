"""WhatsApp export import on a real node: Android and iOS formats, media zip, multi-line messages, system
lines, the report, and malformed exports that import nothing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from whatsapp_samples import ANDROID, IOS, jpeg, write_zip

from messenger.client import MessengerClient, attachments
from messenger.imports.runner import import_whatsapp
from messenger.imports.whatsapp import ExportFormatError, load

Signup = Callable[..., Awaitable[MessengerClient]]


async def bodies(client: MessengerClient, chat: str) -> list[dict[str, Any]]:
    return [r["body"] for r in await client.history(chat)]


def test_android_and_ios_exports_parse_alike(tmp_path: Path) -> None:
    android = load(write_zip(tmp_path / "a.zip", {"WhatsApp Chat with Trip.txt": ANDROID.encode()}))
    assert android.header_format == "%m/%d/%y, %H:%M - %name:"
    assert [(m.author, m.text, m.attachment) for m in android.messages] == [
        ("Alice", "Hello everyone", None),
        ("Bob", "Happy new year!\nThis is a second line\nand a third", None),
        ("Alice", "look at this", None),  # its photo is not in this zip: the caption stays
        ("Carol", "see you", None),
    ]
    assert [(s.line, s.reason) for s in android.skipped] == [
        (1, "system"),
        (2, "system"),
        (7, "media missing"),
        (9, "media omitted"),
        (10, "media missing"),
        (11, "deleted message"),
        (12, "system"),
    ]
    assert android.messages[1].sent_at.isoformat() == "2024-01-01T09:15:00"

    (tmp_path / "_chat.txt").write_text(IOS)
    ios = load(tmp_path / "_chat.txt")
    assert ios.header_format == "[%d.%m.%y, %H:%M:%S] %name:"
    assert [(m.author, m.text) for m in ios.messages] == [
        ("Alice", "Hello everyone"),
        ("Bob", "Happy new year!\nSecond line"),
        ("Bob", "bye"),
    ]
    assert [(s.line, s.reason) for s in ios.skipped] == [
        (1, "system"),
        (5, "media missing"),
        (6, "media omitted"),
        (7, "system"),
    ]
    assert ios.messages[2].sent_at.isoformat() == "2024-01-01T23:59:59"


def test_twelve_hour_ios_clock(tmp_path: Path) -> None:
    text = "[1/2/24, 12:05:00\u202fAM] Bob: midnight\n[1/2/24, 1:30:00\u202fPM] Alice: afternoon\n"
    (tmp_path / "_chat.txt").write_text(text)
    export = load(tmp_path / "_chat.txt")
    assert [(m.author, m.sent_at.hour, m.sent_at.minute) for m in export.messages] == [
        ("Bob", 0, 5),
        ("Alice", 13, 30),
    ]


async def test_import_with_media_into_a_new_encrypted_chat(signup: Signup, tmp_path: Path) -> None:
    alice, bob = await signup(), await signup()
    path = write_zip(
        tmp_path / "WhatsApp Chat with Trip.zip",
        {
            "WhatsApp Chat with Trip.txt": ANDROID.encode(),
            "IMG-20240101-WA0001.jpg": jpeg(),
            "notes.txt": b"a document that is not the chat",
        },
    )
    report = await import_whatsapp(alice, path, names={"Alice": alice.user_id, "Bob": bob.user_id})
    assert (report.imported, report.media) == (4, 1)
    assert report.unmapped_authors == ["Carol"]
    assert [(s.line, s.reason) for s in report.skipped] == [
        (1, "system"),
        (2, "system"),
        (9, "media omitted"),
        (10, "media missing"),
        (11, "deleted message"),
        (12, "system"),
    ]
    chat = await bob.request("GET", f"/v1/chats/{report.chat_id}")
    assert chat["title"] == "WhatsApp Chat with Trip" and {m["user_id"] for m in chat["members"]} == {
        alice.user_id,
        bob.user_id,
    }
    got = await bodies(bob, report.chat_id)
    assert [(b["imported"]["author"], b["text"]) for b in got] == [
        ("Alice", "Hello everyone"),
        ("Bob", "Happy new year!\nThis is a second line\nand a third"),
        ("Alice", "look at this"),
        ("Carol", "see you"),
    ]
    assert got[1]["imported"]["author_user"] == bob.user_id and got[3]["imported"]["author_user"] is None
    assert got[0]["imported"]["sent_at"] == "2023-12-31T21:07:00"
    photo = got[2]["media"]
    assert photo["filename"] == "IMG-20240101-WA0001.jpg"
    assert (photo["kind"], photo["mimetype"], photo["width"]) == ("photo", "image/jpeg", 32)
    # shared into the chat: bob may fetch it, and only his copy of the message holds the key
    assert await attachments.download(bob, report.chat_id, photo) == jpeg()
    assert await attachments.download(bob, report.chat_id, photo["thumbnail"])  # made by alice's device
    assert "imported 4 messages (1 with media)" in report.lines()[0]

    # Re-running into the same chat (a resumed import) adds nothing twice.
    again = await import_whatsapp(
        alice, path, names={"Alice": alice.user_id, "Bob": bob.user_id}, chat_id=report.chat_id
    )
    assert again.imported == 4
    assert len(await bob.request("GET", f"/v1/chats/{report.chat_id}/messages")) == 4


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("empty.txt", b"\n\n", "empty.txt:1: the export is empty"),
        ("plain.txt", b"hello\nthis is not an export\n", "plain.txt:1: no WhatsApp message header"),
        (
            "latin1.txt",
            "12/31/23, 21:07 - Alice: ok\n1/1/24, 09:15 - Bob: caf\xe9\n".encode("latin-1"),
            "latin1.txt:2: not UTF-8",
        ),
        (
            "baddate.txt",
            b"12/31/23, 21:07 - Alice: ok\n1/1/24, 09:15 - Bob: fine\n2/30/24, 10:00 - Bob: no such day\n",
            "baddate.txt:3: bad date",
        ),
        ("notazip.zip", b"PK\x03\x04 broken", "notazip.zip: not a zip archive"),
    ],
)
async def test_malformed_exports_import_nothing(
    signup: Signup, tmp_path: Path, name: str, content: bytes, expected: str
) -> None:
    alice = await signup()
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ExportFormatError) as err:
        await import_whatsapp(alice, path, names={"Alice": alice.user_id})
    assert expected in str(err.value)
    assert await alice.request("GET", "/v1/chats") == []  # no chat, no message was created


async def test_zip_with_two_chats_is_refused(signup: Signup, tmp_path: Path) -> None:
    alice = await signup()
    path = write_zip(
        tmp_path / "two.zip", {"_chat.txt": IOS.encode(), "WhatsApp Chat with X.txt": ANDROID.encode()}
    )
    with pytest.raises(ExportFormatError, match=r"expected exactly one chat \.txt"):
        await import_whatsapp(alice, path, names={})
    assert await alice.request("GET", "/v1/chats") == []


async def test_number_named_authors_are_mapped_by_contact_discovery(signup: Signup, tmp_path: Path) -> None:
    alice, bob = await signup(), await signup()
    assert bob.phone
    shown = f"{bob.phone[:2]} {bob.phone[2:5]} {bob.phone[5:8]}-{bob.phone[8:10]}-{bob.phone[10:]}"
    text = (
        f"12/31/23, 21:07 - Alice: hi\n12/31/23, 21:08 - {shown}: hello from an unsaved number\n"
        "1/1/24, 10:00 - Alice: happy new year\n1/13/24, 11:00 - Alice: still there?\n"
    )
    (tmp_path / "WhatsApp Chat with Bob.txt").write_text(text)
    report = await import_whatsapp(
        alice, tmp_path / "WhatsApp Chat with Bob.txt", names={"Alice": alice.user_id}
    )
    assert report.unmapped_authors == [] and report.imported == 4
    got = await bodies(bob, report.chat_id)  # bob was added to the chat as the mapped contact
    assert got[1]["imported"] == {
        "from": "whatsapp",
        "author": shown,
        "author_user": bob.user_id,
        "sent_at": "2023-12-31T21:08:00",
    }


async def test_deleting_the_importers_account_keeps_the_other_authors_history(
    signup: Signup, tmp_path: Path
) -> None:
    alice, bob = await signup(), await signup()
    path = write_zip(
        tmp_path / "WhatsApp Chat with Trip.zip", {"WhatsApp Chat with Trip.txt": ANDROID.encode()}
    )
    report = await import_whatsapp(alice, path, names={"Alice": alice.user_id, "Bob": bob.user_id})
    await bob.sync()  # bob's device takes the room keys alice's device shared
    deleted = await alice.http.request("DELETE", "/v1/account", json={"phone": alice.phone})
    assert deleted.status_code == 204

    rows = await bob.request("GET", f"/v1/chats/{report.chat_id}/messages")
    assert [r["sender"] for r in rows] == ["erased"] * 4
    assert [r["deleted"] for r in rows] == [True, False, True, False]
    kept = [await bob.decrypt_body(r) for r in rows if not r["deleted"]]
    # Alice's own line went with her account; Bob's and Carol's (posted by her import) stayed.
    assert [(b["imported"]["author"], b["text"]) for b in kept] == [
        ("Bob", "Happy new year!\nThis is a second line\nand a third"),
        ("Carol", "see you"),
    ]
