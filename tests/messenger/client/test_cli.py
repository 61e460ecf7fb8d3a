"""``msgfleet-client`` through the real node: two profiles talk, send a photo and a voice note, signal a
call, import the sample WhatsApp exports with a mapping file; every failure is one line and exit 1."""

from __future__ import annotations

import json
import secrets
import stat
from pathlib import Path
from typing import Any

import pytest
from media_files import png, wav
from PIL import Image
from typer.testing import CliRunner, Result
from whatsapp_samples import ANDROID, IOS, jpeg, write_zip

from messenger.client.cli import app


class User:
    """One person with their own profile directory."""

    def __init__(self, node: Any, root: Path, name: str):
        self.node, self.profile, self.phone = node, root / name, f"+7999{secrets.randbelow(10**7):07d}"

    def run(self, *args: str, input: str | None = None) -> Result:
        return CliRunner().invoke(app, ["--profile", str(self.profile), *args], input=input)

    def ok(self, *args: str, input: str | None = None) -> str:
        result = self.run(*args, input=input)
        assert result.exit_code == 0, (args, result.output)
        return result.stdout

    def login(self) -> User:
        self.ok("login", self.phone, "--node", self.node.url, "--sms-file", str(self.node.sms_path))
        return self

    @property
    def state(self) -> dict[str, Any]:
        return dict(json.loads((self.profile / "device.json").read_text()))


@pytest.fixture
def pair(node: Any, tmp_path: Path) -> tuple[User, User]:
    return User(node, tmp_path, "alice").login(), User(node, tmp_path, "bob").login()


def one_line_error(result: Result, *expected: str) -> None:
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("msgfleet-client: "), result.stderr
    for text in expected:
        assert text in lines[0], lines[0]


def test_login_send_and_read_between_two_profiles(pair: tuple[User, User]) -> None:
    alice, bob = pair
    assert stat.S_IMODE((alice.profile / "device.json").stat().st_mode) == 0o600
    assert stat.S_IMODE(alice.profile.stat().st_mode) == 0o700
    assert alice.state["token"] and alice.state["keys"] and alice.state["phone"] == alice.phone
    chat = alice.ok("chat", bob.phone).strip()
    assert alice.ok("send", chat, "hello bob") == "sent #1\n"
    assert bob.ok("send", chat, "hi alice") == "sent #2\n"
    shown = bob.ok("read", chat)
    assert "#1 " in shown and f"{alice.state['user_id']}: hello bob" in shown and "me: hi alice" in shown
    assert chat in bob.ok("chats")
    assert "hello bob" not in json.dumps(bob.state)  # the profile holds keys and ids, not messages


def test_photo_and_voice_round_trip(pair: tuple[User, User], tmp_path: Path) -> None:
    alice, bob = pair
    chat = alice.ok("chat", bob.phone).strip()
    (tmp_path / "view.png").write_bytes(png(400, 300))
    (tmp_path / "note.wav").write_bytes(wav(1.5))
    alice.ok("photo", chat, str(tmp_path / "view.png"), "--caption", "look")
    alice.ok("voice", chat, str(tmp_path / "note.wav"))
    shown = bob.ok("read", chat)
    assert "look [photo image/png 400x300" in shown and "view.png]" in shown
    assert "[voice audio/x-wav 1.5 s" in shown
    bob.ok("save", chat, "1", str(tmp_path / "got.png"))
    assert (tmp_path / "got.png").read_bytes() == png(400, 300)
    bob.ok("save", chat, "1", str(tmp_path / "thumb.jpg"), "--thumbnail")
    with Image.open(tmp_path / "thumb.jpg") as img:
        assert (img.format, img.size) == ("JPEG", (320, 240))
    bob.ok("save", chat, "2", str(tmp_path / "got.wav"))
    assert (tmp_path / "got.wav").read_bytes() == wav(1.5)
    one_line_error(bob.run("save", chat, "2", str(tmp_path / "t.jpg"), "--thumbnail"), "no thumbnail")


def test_call_signalling(pair: tuple[User, User], tmp_path: Path) -> None:
    alice, bob = pair
    chat = alice.ok("chat", bob.phone).strip()
    (tmp_path / "offer.sdp").write_text("v=0\r\no=alice 1 1 IN IP4 127.0.0.1\r\n")
    (tmp_path / "answer.sdp").write_text("v=0\r\no=bob 2 2 IN IP4 127.0.0.1\r\n")
    started = alice.ok("call", "start", chat, "--sdp", str(tmp_path / "offer.sdp"))
    call_id = started.split()[1]
    assert started.startswith(f"call {call_id} ringing")
    assert f"call {call_id} ringing" in bob.ok("call", "list", chat)
    offers = [json.loads(line) for line in bob.ok("call", "signals").splitlines()]
    assert any(s["kind"] == "call.signal" and s["data"]["sdp"].startswith("v=0") for s in offers), offers
    assert bob.ok("call", "answer", call_id, "--sdp", str(tmp_path / "answer.sdp")).startswith(
        f"call {call_id} active"
    )
    answers = [json.loads(line) for line in alice.ok("call", "signals").splitlines()]
    assert [s["data"]["type"] for s in answers if s["kind"] == "call.signal"] == ["answer"]
    assert alice.ok("call", "hangup", call_id).startswith(f"call {call_id} ended")


def test_import_of_the_sample_exports_with_a_mapping_file(pair: tuple[User, User], tmp_path: Path) -> None:
    alice, bob = pair
    export = write_zip(
        tmp_path / "WhatsApp Chat with Trip.zip",
        {"WhatsApp Chat with Trip.txt": ANDROID.encode(), "IMG-20240101-WA0001.jpg": jpeg()},
    )
    mapping = tmp_path / "people.yaml"
    mapping.write_text(f'Alice: "{alice.phone}"\nBob: "{bob.phone}"\n')
    report = alice.ok("import-whatsapp", str(export), "--map", str(mapping), "--no-prompt")
    assert "imported 4 messages (1 with media)" in report
    assert "authors kept by name only (no contact): Carol" in report
    [chat] = [line.split()[0] for line in bob.ok("chats").splitlines() if "WhatsApp Chat with Trip" in line]
    shown = bob.ok("read", chat)
    assert "Bob (imported): Happy new year!" in shown
    assert "Alice (imported): look at this [photo image/jpeg 32x24" in shown
    bob.ok("save", chat, "3", str(tmp_path / "img.jpg"))
    assert (tmp_path / "img.jpg").read_bytes() == jpeg()

    # The iOS sample, a CSV mapping, and the prompt for the author the file does not name.
    (tmp_path / "_chat.txt").write_text(IOS)
    (tmp_path / "people.csv").write_text(f"name,phone\nAlice,{alice.phone}\n")
    report = alice.ok(
        "import-whatsapp",
        str(tmp_path / "_chat.txt"),
        "--map",
        str(tmp_path / "people.csv"),
        "--prompt",
        "--title",
        "ios trip",
        input=f"{bob.phone}\n",
    )
    assert "imported 3 messages (0 with media)" in report  # its photo is not in a .txt export
    assert "authors kept by name only" not in report  # Bob's number came from the prompt
    [chat] = [line.split()[0] for line in bob.ok("chats").splitlines() if "ios trip" in line]
    assert "Bob (imported): bye" in bob.ok("read", chat)


def test_each_failure_is_one_line_and_exit_1(node: Any, pair: tuple[User, User], tmp_path: Path) -> None:
    alice, _ = pair
    stranger = User(node, tmp_path, "stranger")
    one_line_error(
        stranger.run("login", stranger.phone, "--node", "http://127.0.0.1:9"), "cannot reach the node"
    )
    one_line_error(
        stranger.run("login", stranger.phone, "--node", node.url, "--code", "000000"), "invalid_code"
    )
    one_line_error(stranger.run("login", "12345"), "not an international phone number")
    one_line_error(stranger.run("chats"), "not logged in")
    one_line_error(alice.run("send", "no-such-chat", "hi"), "chat 'no-such-chat': no such chat")
    one_line_error(alice.run("photo", "x", str(tmp_path / "missing.png")), "missing.png: cannot read")
    (tmp_path / "not-a-photo.png").write_bytes(b"hello")
    chat = alice.ok("chat", pair[1].phone).strip()
    one_line_error(alice.run("photo", chat, str(tmp_path / "not-a-photo.png")), "text/plain")
    one_line_error(alice.run("import-whatsapp", str(tmp_path / "none.zip")), "none.zip")
    (tmp_path / "broken.zip").write_bytes(b"PK\x03\x04 broken")
    one_line_error(
        alice.run("import-whatsapp", str(tmp_path / "broken.zip")), "broken.zip: not a zip archive"
    )
    (tmp_path / "chat.txt").write_text(ANDROID)
    for name, text, where in (
        ("bad.yaml", 'Alice: "+79990000001"\nBob: "not a number"\n', "bad.yaml:2:"),
        ("bad2.yaml", "Alice: +79991112233\n  - oops: [\n", "bad2.yaml:2:"),
        ("bad.csv", "name,phone\nAlice,+79991112233\nBob\n", "bad.csv:3:"),
    ):
        (tmp_path / name).write_text(text)
        one_line_error(
            alice.run("import-whatsapp", str(tmp_path / "chat.txt"), "--map", str(tmp_path / name)), where
        )
    assert "Trip" not in alice.ok("chats")  # nothing was imported by the failed runs
    stranger.profile.mkdir()
    (stranger.profile / "device.json").write_text("{not json")
    one_line_error(stranger.run("chats"), "unreadable profile")


def test_backup_restore_fingerprint_and_verify(node: Any, pair: tuple[User, User], tmp_path: Path) -> None:
    import asyncio
    import threading

    from messenger.client.crypto import new_recovery_key
    from messenger.client.profile import Profile

    alice, bob = pair
    chat = alice.ok("chat", bob.phone).strip()
    alice.ok("send", chat, "before the backup")
    assert "before the backup" in bob.ok("read", chat)
    made = bob.run("backup")
    assert made.exit_code == 0 and made.stdout.startswith("backed up "), made.output
    recovery_key = made.stderr.strip().rsplit(" ", 1)[-1]

    laptop = User(node, tmp_path, "bob-laptop")
    laptop.phone = bob.phone
    laptop.login()
    assert "before the backup" not in laptop.run("read", chat).output  # no room key on the new device yet
    one_line_error(laptop.run("restore", new_recovery_key()), "for another recovery key")
    one_line_error(laptop.run("restore", "not-a-key"), "not a recovery key")
    assert laptop.ok("restore", recovery_key).startswith("restored ")
    assert "before the backup" in laptop.ok("read", chat)

    # Both of bob's devices are in the directory, and everyone computes the same safety number for bob.
    listed = alice.ok("devices", bob.phone)
    assert bob.state["device_id"] in listed and laptop.state["device_id"] in listed
    assert alice.ok("fingerprint", bob.phone) == laptop.ok("fingerprint", bob.state["user_id"]) != ""

    async def bob_answers() -> None:
        client = Profile(bob.profile).load()
        try:

            async def yes(_codes: object) -> bool:
                return True

            await client.verify(alice.state["user_id"], alice.state["device_id"], confirm=yes, initiate=False)
        finally:
            await client.close()

    answering = threading.Thread(target=asyncio.run, args=(bob_answers(),))
    answering.start()
    shown = alice.run("verify", bob.phone, bob.state["device_id"], "--initiate", input="y\n")
    answering.join(timeout=180)
    assert shown.exit_code == 0, shown.output
    assert f"verified {bob.state['user_id']} {bob.state['device_id']}" in shown.stdout
    assert "does the other screen show" in shown.stderr
