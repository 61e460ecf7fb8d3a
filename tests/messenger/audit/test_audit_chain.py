"""The audit chain over a real node: security actions are recorded; ``msgfleet audit verify`` catches
edited, removed and reordered entries (the test plays an attacker who dropped the append-only trigger)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from messenger.audit import verify_url
from messenger.client import MessengerClient

Signup = Callable[..., Awaitable[MessengerClient]]
NodeProcess = Any  # tests/conftest.py's NodeProcess: url, data_dir, db_url
STATE = "RU-MOW"


@pytest.fixture
def audit_node(trust_node: NodeProcess) -> NodeProcess:
    return trust_node


async def verify_line(node: NodeProcess) -> str:
    """The verdict in-process (the CLI below is a thin wrapper around the same ``verify_url``)."""
    return (await verify_url(node.db_url)).line()


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


_GUARD = {  # the append-only triggers of migration c1_audit
    "postgresql": [
        "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
        "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()"
    ],
    "sqlite": [
        f"CREATE TRIGGER audit_log_no_{op} BEFORE {op.upper()} ON audit_log "
        "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END"
        for op in ("update", "delete")
    ],
}


@pytest.fixture
async def attacker(db: AsyncConnection) -> AsyncIterator[AsyncConnection]:
    """``db`` without the append-only triggers; the log and the triggers are restored afterwards, so
    the admin tests on the same node find an intact chain."""
    rows = [r._asdict() for r in (await db.execute(text("SELECT * FROM audit_log ORDER BY seq"))).all()]
    await _drop_guard(db)
    try:
        yield db
    finally:
        await db.rollback()
        await db.execute(text("DELETE FROM audit_log"))
        if rows:
            names = ", ".join(rows[0])
            values = ", ".join(f":{k}" for k in rows[0])
            await db.execute(text(f"INSERT INTO audit_log ({names}) VALUES ({values})"), rows)
        for statement in _GUARD[db.dialect.name]:
            await db.execute(text(statement))
        await db.commit()


async def _drop_guard(conn: AsyncConnection) -> None:
    if conn.dialect.name == "postgresql":
        await conn.execute(text("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log"))
    else:
        await conn.execute(text("DROP TRIGGER IF EXISTS audit_log_no_update"))
        await conn.execute(text("DROP TRIGGER IF EXISTS audit_log_no_delete"))
    await conn.commit()


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


async def test_edited_reordered_and_removed_entries_are_named(
    signup: Signup, audit_node: NodeProcess, attacker: AsyncConnection
) -> None:
    db = attacker
    for _ in range(3):  # at least 6 entries, whatever ran before
        await signup(node_=audit_node)

    # Edited: one field of entry 3.
    original = (await db.execute(text("SELECT detail FROM audit_log WHERE seq = 3"))).scalar_one()
    await db.execute(text("UPDATE audit_log SET detail = :d WHERE seq = 3"), {"d": '{"forged":true}'})
    await db.commit()
    edited = verify_cli(audit_node)
    assert edited.returncode == 1 and "broken at entry 3" in edited.stderr and "edited" in edited.stderr
    await db.execute(text("UPDATE audit_log SET detail = :d WHERE seq = 3"), {"d": original})
    await db.commit()
    assert "intact" in await verify_line(audit_node)

    # Reordered: entries 2 and 3 swap places (seq kept, everything else exchanged).
    cols = "created_at, action, actor, target, detail, prev_hash, hash"
    two = (await db.execute(text(f"SELECT {cols} FROM audit_log WHERE seq = 2"))).one()
    three = (await db.execute(text(f"SELECT {cols} FROM audit_log WHERE seq = 3"))).one()
    sets = ", ".join(f"{c} = :{c}" for c in cols.split(", "))
    await db.execute(text(f"UPDATE audit_log SET {sets} WHERE seq = 2"), three._asdict())
    await db.execute(text(f"UPDATE audit_log SET {sets} WHERE seq = 3"), two._asdict())
    await db.commit()
    assert "broken at entry 2" in await verify_line(audit_node)
    await db.execute(text(f"UPDATE audit_log SET {sets} WHERE seq = 2"), two._asdict())
    await db.execute(text(f"UPDATE audit_log SET {sets} WHERE seq = 3"), three._asdict())
    await db.commit()
    assert "intact" in await verify_line(audit_node)

    # Removed: entry 4 disappears (with or without renumbering the rest).
    await db.execute(text("DELETE FROM audit_log WHERE seq = 4"))
    await db.commit()
    removed = await verify_line(audit_node)
    assert "broken at entry 4" in removed and "removed" in removed
    # Renumber through negatives: PostgreSQL checks the primary key row by row.
    await db.execute(text("UPDATE audit_log SET seq = -seq WHERE seq > 4"))
    await db.execute(text("UPDATE audit_log SET seq = -seq - 1 WHERE seq < 0"))
    await db.commit()
    assert "broken at entry 4" in await verify_line(audit_node)


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
