"""The client CLI is reachable both ways: the ``msgfleet-client`` console script and ``msgfleet client``."""

from __future__ import annotations

import tomllib
from pathlib import Path

from typer.testing import CliRunner

from msgfleet.cli import app

ROOT = Path(__file__).resolve().parents[2]


def test_console_script_is_declared() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["msgfleet-client"] == "messenger.client.cli:main"


def test_msgfleet_client_is_the_same_app(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["client", "--profile", str(tmp_path / "none"), "chats"])
    assert result.exit_code == 1
    assert (
        result.stderr.strip()
        == f"msgfleet-client: {tmp_path / 'none' / 'device.json'}: not logged in (run `login` first)"
    )
    assert "import-whatsapp" in CliRunner().invoke(app, ["client", "--help"]).stdout
