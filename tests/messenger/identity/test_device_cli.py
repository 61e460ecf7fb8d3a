"""``msgfleet-client link-device`` / ``approve-device``: device sign-in by code from the reference
client's CLI; the new device lands in its own profile with its own keys."""

from __future__ import annotations

import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from messenger.client.cli import app

CLIENT = [sys.executable, "-c", "from messenger.client.cli import main; main()"]


def client(profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The client CLI in a process of its own (the test's event loop is running)."""
    cmd = [*CLIENT, "--profile", str(profile), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)


async def test_link_shows_a_code_and_stores_the_device_once_approved(node: Any, tmp_path: Path) -> None:
    phone_profile, desk_profile = tmp_path / "phone", tmp_path / "desk"
    number = f"+7996{secrets.randbelow(10**7):07d}"
    login = client(phone_profile, "login", number, "--node", node.url, "--sms-file", str(node.sms_path))
    assert login.returncode == 0, login.stderr
    cmd = [*CLIENT, "--profile", str(desk_profile), "link-device", number, "--node", node.url]
    with subprocess.Popen(
        [*cmd, "--poll-seconds", "0.2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as proc:
        assert proc.stderr is not None
        first = proc.stderr.readline()  # "code XXXX-XXXX: approve it on ..."
        assert first.startswith("code "), first
        code = first.split()[1].rstrip(":")
        approved = client(phone_profile, "approve-device", code)
        assert approved.returncode == 0, approved.stderr
        assert "approved msgfleet-client (python)" in approved.stdout
        out, err = proc.communicate(timeout=120)  # a bound for a hang: it ends once it has its device
    assert proc.returncode == 0, err
    assert f"linked to {number}" in out
    chats = client(desk_profile, "chats")  # the new device works from its own profile
    assert chats.returncode == 0, chats.stderr
    again = client(phone_profile, "approve-device", code)
    assert again.returncode == 1
    assert "link_used" in again.stderr and len(again.stderr.strip().splitlines()) == 1


def test_approve_without_a_profile_is_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["--profile", str(tmp_path / "none"), "approve-device", "0000-0000"])
    assert result.exit_code == 1
    assert len(result.output.strip().splitlines()) == 1
