"""The audit chain over a real node: security actions are recorded and chained, the trigger refuses edits,
``msgfleet audit verify`` says so (tampering: test_audit_tampering.py)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from audit_attack import attacker_connection, put, rows
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from messenger.client import MessengerClient

Signup = Callable[..., Awaitable[MessengerClient]]
NodeProcess = Any  # tests/conftest.py's NodeProcess: url, data_dir, db_url
STATE = "RU-MOW"


@pytest.fixture
def audit_node(trust_node: NodeProcess) -> NodeProcess:
    return trust_node


def verify_cli(node: NodeProcess) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "messenger", "audit", "verify", "--state", STATE]
    cmd += ["--data-dir", str(node.data_dir), "--database-url", node.db_url]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


@pytest.fixture
async def db(audit_node: NodeProcess) -> AsyncIterator[AsyncConnection]:
    engine = create_async_engine(audit_node.db_url)
    async with engine.connect() as conn:
        yield conn
    await engine.dispose()


async def test_security_actions_are_chained(
    signup: Signup, audit_node: NodeProcess, db: AsyncConnection
) -> None:
    alice = await signup(node_=audit_node)
    await alice.request("PUT", "/v1/account/2fa/pin", json={"pin": "4321"})
    second = await signup(phone=alice.phone, node_=audit_node, device_name="tablet", otp="4321")
    await alice.request("DELETE", f"/v1/devices/{second.device_id}")

    rows = (await db.execute(text("SELECT seq, action, actor, target FROM audit_log ORDER BY seq"))).all()
    mine = [(a, t) for _, a, actor, t in rows if actor == alice.user_id]
    assert mine == [
        ("auth.login", alice.device_id),
        ("device.added", alice.device_id),
        ("2fa.pin_set", alice.user_id),
        ("auth.login", second.device_id),
        ("device.added", second.device_id),
        ("device.revoked", second.device_id),
    ]
    assert [r[0] for r in rows] == list(range(1, len(rows) + 1))
    ok = verify_cli(audit_node)
    assert ok.returncode == 0, ok.stderr
    assert f"intact: {len(rows)} entries" in ok.stdout

    # The trigger refuses edits outright.
    with pytest.raises(Exception, match="append-only"):
        await db.execute(text("UPDATE audit_log SET actor = 'x' WHERE seq = 1"))
    await db.rollback()


def test_verify_of_a_missing_database_is_one_line(tmp_path: Path) -> None:
    cmd = [
        sys.executable,
        "-m",
        "msgfleet.cli",
        "audit",
        "verify",
        "--state",
        STATE,
        "--data-dir",
        str(tmp_path),
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"msgfleet: no node database at {tmp_path}/node.db (check --data-dir)"
    ]


@pytest.fixture(scope="module")
def checkpoint_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("checkpoints") / "audit.jsonl"


@pytest.fixture(scope="module")
def checkpoint_node(node_factory: Callable[..., Any], checkpoint_file: Path) -> NodeProcess:
    return node_factory(
        shared_backends=True,
        MSGFLEET_ADMIN_PHONES=ADMIN,
        MSGFLEET_AUDIT_CHECKPOINT_FILE=str(checkpoint_file),
        MSGFLEET_AUDIT_CHECKPOINT_SECONDS="0.2",
    )


ADMIN = "+70000000042"


async def _checkpoint_at_least(path: Path, seq: int) -> list[dict[str, Any]]:
    """The checkpoint lines once one names entry ``seq`` or later (polled, bounded)."""
    for _ in range(600):
        lines = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
        if lines and lines[-1]["seq"] >= seq:
            return lines
        await asyncio.sleep(0.1)
    raise AssertionError(f"no checkpoint reached entry {seq}: {path.read_text() if path.exists() else ''}")


async def test_the_node_writes_checkpoints_and_verifies_against_them(
    signup: Signup, checkpoint_node: NodeProcess, checkpoint_file: Path
) -> None:
    admin = await signup(phone=ADMIN, node_=checkpoint_node)
    head = (await admin.request("GET", "/v1/admin/audit?limit=1000"))[-1]["seq"]
    lines = await _checkpoint_at_least(checkpoint_file, head)
    heads = [(c["seq"], c["head"]) for c in lines]
    assert len(set(heads)) == len(heads)  # an unchanged head is not written again, by either worker
    result = await admin.request("GET", "/v1/admin/audit/verify")
    assert result["ok"] and result["checkpoints"] >= len(lines) >= 1, result  # more may have come since

    async for db in attacker_connection(checkpoint_node.db_url):
        last = (await rows(db))[-1]["seq"]
        await put(db, [r for r in await rows(db) if r["seq"] < lines[-1]["seq"]])  # cut a checkpointed entry
        cut = await admin.request("GET", "/v1/admin/audit/verify")
        assert not cut["ok"] and "entries removed" in cut["reason"], cut
        assert last >= lines[-1]["seq"]
        log = checkpoint_node.data_dir / "node.log"
        for _ in range(600):  # the node says it refuses to checkpoint the cut chain (polled, bounded)
            if "audit checkpoint refused" in log.read_text():
                break
            await asyncio.sleep(0.1)
        assert "entries removed" in log.read_text()
        written = [json.loads(line) for line in checkpoint_file.read_text().splitlines()]
        assert written[: len(lines)] == lines  # nothing rewritten
        # A head checkpointed between our read and the cut may follow, but never one of the cut chain,
        # which would go back below the last checkpointed seq.
        seqs = [c["seq"] for c in written]
        assert seqs == sorted(set(seqs)), seqs
