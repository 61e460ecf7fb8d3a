"""``msgfleet device link`` / ``device approve``: the reference client's CLI for device sign-in by code."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from typer.testing import CliRunner

from messenger.cli import app
from messenger.client import MessengerClient

Signup = Callable[..., Awaitable[MessengerClient]]


def approve(url: str, code: str, token: str) -> subprocess.CompletedProcess[str]:
    """``msgfleet device approve`` in a process of its own (the test's event loop is running)."""
    cmd = [sys.executable, "-m", "messenger", "device", "approve", url, code, "--token", token]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)


async def test_link_shows_a_code_and_prints_the_token_once_approved(node: Any, signup: Signup) -> None:
    phone = await signup()
    assert phone.phone is not None
    cmd = [
        sys.executable,
        "-m",
        "messenger",
        "device",
        "link",
        node.url,
        phone.phone,
        "--poll-seconds",
        "0.2",
    ]
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        assert proc.stderr is not None
        first = proc.stderr.readline()  # "code XXXX-XXXX: approve it on ..."
        assert first.startswith("code "), first
        code = first.split()[1].rstrip(":")
        approved = approve(node.url, code, phone.token)
        assert approved.returncode == 0, approved.stderr
        assert approved.stdout.strip() == "approved cli (python)"
        out, err = proc.communicate(timeout=120)  # a bound for a hang: it ends once it claimed the token
    assert proc.returncode == 0, err
    login = json.loads(out)
    assert login["user_id"] == phone.user_id and login["device_id"] != phone.device_id
    again = approve(node.url, code, phone.token)
    assert again.returncode == 1
    assert "409 link_used" in again.stderr


def test_approve_of_a_bad_code_is_one_line(node: Any) -> None:
    result = CliRunner().invoke(app, ["device", "approve", node.url, "0000-0000", "--token", "nope"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"device approve: {node.url}: 401 invalid_token: token is invalid or its device was revoked"
    ]
