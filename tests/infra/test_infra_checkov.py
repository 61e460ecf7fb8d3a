"""checkov over every shipped stack's rendered manifests: no failed check without an entry (and its
reason) in infra/checkov/skips.yaml, and no entry that no longer matches a failure.

checkov pins many packages, so it lives in its own virtualenv, ``.venv/checkov``, which ``make
test`` creates (``make checkov-venv``, from infra/checkov/constraints.txt)."""

from __future__ import annotations

import fnmatch
import json
import subprocess
from pathlib import Path

import pytest
import yaml
from rendered_stacks import rendered_at

from infra.render import write
from infra.stack import ROOT

CHECKOV = ROOT / ".venv" / "checkov" / "bin" / "checkov"
SKIPS = yaml.safe_load((ROOT / "infra" / "checkov" / "skips.yaml").read_text(encoding="utf-8"))
STACKS = ["dev", "national"]


def failed_checks(folder: Path) -> list[tuple[str, str]]:
    """(check id, ``Kind/name``) of every failed checkov check on the manifests under ``folder``."""
    done = subprocess.run(
        [str(CHECKOV), "-d", str(folder), "--framework", "kubernetes", "--quiet", "--compact", "-o", "json"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode in (0, 1), done.stderr[-2000:]  # 1: some check failed
    report = json.loads(done.stdout)
    report = report if isinstance(report, dict) else report[0]
    found = []
    for check in report["results"]["failed_checks"]:
        kind, _namespace, name = check["resource"].split(".", 2)
        found.append((check["check_id"], f"{kind}/{name}"))
    return found


def skip_of(check: str, target: str) -> int | None:
    for index, skip in enumerate(SKIPS):
        if skip["check"] == check and any(fnmatch.fnmatchcase(target, p) for p in skip["objects"]):
            return index
    return None


def test_every_skip_has_a_reason() -> None:
    for skip in SKIPS:
        assert skip["reason"].strip() and "\n" not in skip["reason"].strip(), skip


@pytest.mark.skipif(
    not CHECKOV.exists(), reason=f"checkov is not installed in {CHECKOV.parent.parent} (make checkov-venv)"
)
def test_checkov_passes_every_stack_but_its_explained_skips(tmp_path: Path) -> None:
    used: set[int] = set()
    unexplained = []
    for name in STACKS:
        write(rendered_at(name, 1), tmp_path / name)
        for check, target in failed_checks(tmp_path / name):
            index = skip_of(check, target)
            if index is None:
                unexplained.append(f"{name}: {check} {target}")
            else:
                used.add(index)
    assert not unexplained, "\n".join(sorted(set(unexplained)))
    stale = [f"{SKIPS[i]['check']} {SKIPS[i]['objects']}" for i in range(len(SKIPS)) if i not in used]
    assert not stale, f"skips that match no failure any more: {stale}"
