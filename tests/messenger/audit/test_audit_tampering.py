"""Fourteen ways to rewrite the audit log with write access to the database, on SQLite and on
PostgreSQL (2 workers + Redis when configured): every one is caught by ``verify`` against a checkpoint
taken before the attack. Without a checkpoint the keyed chain alone still catches all but truncation
(cutting off the newest entries leaves a shorter, intact chain: docs/SECURITY.md)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from audit_attack import STATE, TAMPERINGS, TRUNCATIONS, attacker_connection, node_keys, put, rows
from sqlalchemy.ext.asyncio import AsyncConnection

from messenger.audit import checkpoint_url, read_checkpoints, verify_url
from messenger.client import MessengerClient

Signup = Callable[..., Awaitable[MessengerClient]]


@pytest.fixture(scope="module")
def audit_node(node_factory: Callable[..., Any]) -> Any:
    return node_factory(shared_backends=True)


@pytest.fixture
async def attacker(audit_node: Any, signup: Signup) -> AsyncIterator[AsyncConnection]:
    keys = node_keys(audit_node.data_dir)
    while (await verify_url(audit_node.db_url, keys)).entries < 12:
        await signup(node_=audit_node)  # a code request, a login and a device: 3 entries
    async for db in attacker_connection(audit_node.db_url):
        yield db


@pytest.mark.parametrize("name", sorted(TAMPERINGS))
async def test_every_tampering_is_caught(
    name: str, audit_node: Any, attacker: AsyncConnection, tmp_path: Path
) -> None:
    keys = node_keys(audit_node.data_dir)
    file = tmp_path / "checkpoints.jsonl"
    await checkpoint_url(audit_node.db_url, keys, state=STATE, path=file)
    checkpoints = read_checkpoints(keys, file, state=STATE)
    before = await verify_url(audit_node.db_url, keys, checkpoints)
    assert before.ok, before.line()

    await put(attacker, TAMPERINGS[name](await rows(attacker)))

    against = await verify_url(audit_node.db_url, keys, checkpoints)
    assert not against.ok, f"{name}: {against.line()}"
    alone = await verify_url(audit_node.db_url, keys)
    assert alone.ok == (name in TRUNCATIONS), f"{name}: {alone.line()}"


async def test_cli_names_the_cut_and_a_forged_checkpoint(
    audit_node: Any, attacker: AsyncConnection, tmp_path: Path
) -> None:
    file = tmp_path / "cp.jsonl"
    base = ["--state", STATE, "--data-dir", str(audit_node.data_dir), "--database-url", audit_node.db_url]

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "msgfleet.cli", "audit", *args, *base]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=60)

    made = cli("checkpoint", "--out", str(file))
    assert made.returncode == 0 and "checkpoint of RU-MOW at entry" in made.stdout, made.stderr
    assert cli("checkpoint", "--out", str(file)).returncode == 0  # unchanged head: not written twice
    assert len(file.read_text().splitlines()) == 1
    ok = cli("verify", "--checkpoints", str(file))
    assert ok.returncode == 0 and "matches 1 checkpoints" in ok.stdout, ok.stderr

    log = await rows(attacker)
    await put(attacker, log[:-3])
    cut = cli("verify", "--checkpoints", str(file))
    assert cut.returncode == 1
    assert f"log ends at entry {len(log) - 3}, checkpoint {file}:1 names entry {len(log)}" in cut.stderr
    assert "intact" in cli("verify").stdout  # without the checkpoint the cut is invisible

    # Moving the checkpoint back to hide the cut needs the audit key too.
    line = file.read_text().replace(f'"seq":{len(log)}', f'"seq":{len(log) - 3}')
    file.write_text(line)
    forged = cli("verify", "--checkpoints", str(file))
    assert forged.returncode == 2
    assert (
        forged.stderr.strip()
        == f"msgfleet: {file}:1: checkpoint mac does not match this node's audit key (forged)"
    )
