"""``msgfleet infra render`` and the demo stage write per-site manifests; a failing one fails the command."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import yaml
from rich.console import Console

from infra.demo import stage_infra
from infra.policy import POLICIES

MSGFLEET = [sys.executable, "-c", "from msgfleet.cli import main; main()"]


def test_render_writes_one_folder_per_site(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from msgfleet.cli import app

    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["infra", "render", "--stack", "dev", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["RU-MOW", "RU-NVS", "RU-SPE"]
    for path in out.glob("*/*.yaml"):
        doc = yaml.safe_load(path.read_text())
        assert list(doc)[:3] == ["apiVersion", "kind", "metadata"], path
    namespaces = sorted(out.glob("*/00-namespace-*.yaml"))
    assert len(namespaces) == 3, "each site folder starts with its namespace (kubectl apply -f order)"


def test_a_failing_manifest_fails_the_command_in_one_line(tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = ["infra", "render", "--stack", "dev", "--image", "ghcr.io/msgfleet/node:latest", "--out", str(out)]
    done = subprocess.run([*MSGFLEET, *args], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 2, done.stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "policy pinned-images" in lines[0] and "node:latest" in lines[0], lines[0]
    named = Path(lines[0].split(": ")[1])
    assert named.exists() and "node:latest" in named.read_text(), "manifests are still written for inspection"


def test_demo_stage_prints_the_table(tmp_path: Path) -> None:
    buffer = io.StringIO()
    rendering = stage_infra(Console(file=buffer, width=140), tmp_path)
    text = buffer.getvalue()
    for state in ("RU-MOW", "RU-SPE", "RU-NVS"):
        assert state in text
    assert f"{len(POLICIES)}/{len(POLICIES)} ok" in text and (tmp_path / "infra" / "outputs.json").exists()
    assert rendering.stack.phase == 1
