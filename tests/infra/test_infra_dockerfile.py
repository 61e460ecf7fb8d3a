"""The node image: multi-stage, slim pinned base, non-root, health-checked; the context stays small."""

from __future__ import annotations

import re

from infra.stack import ROOT


def _instructions() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "") for line in lines]


def test_multi_stage_from_a_pinned_slim_base() -> None:
    steps = _instructions()
    stages = [arg for op, arg in steps if op == "FROM"]
    assert len(stages) >= 2, stages
    base = next(arg for op, arg in steps if op == "ARG" and arg.startswith("PYTHON_IMAGE="))
    assert re.fullmatch(r"PYTHON_IMAGE=python:\d+\.\d+\.\d+-slim-\w+", base), base
    assert any("--from=build" in arg for op, arg in steps if op == "COPY")


def test_runs_as_non_root_with_a_healthcheck_on_healthz() -> None:
    steps = _instructions()
    users = [arg for op, arg in steps if op == "USER"]
    assert users and users[-1].split(":")[0] not in ("0", "root"), users
    checks = [arg for op, arg in steps if op == "HEALTHCHECK"]
    assert checks and "/healthz" in checks[0]
    assert ("ENTRYPOINT", '["msgfleet"]') in steps


def test_dockerignore_keeps_the_context_small() -> None:
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".git", ".venv", "tests"} <= ignored
