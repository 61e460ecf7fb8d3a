"""An attacker with write access to a node's database (but not its key store): drops the append-only
triggers, rewrites ``audit_log`` and, where it helps, recomputes the chain with the only hash it can
compute, the unkeyed SHA-256 of the entry (what the chain used before it was keyed)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from messenger.keystore import KeyStore, open_keystore
from messenger.settings import load_settings

STATE = "RU-MOW"
Row = dict[str, Any]

GUARD = {  # the append-only triggers of migration c1_audit
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


def node_keys(data_dir: Path, **env: str) -> KeyStore:
    """The key store the node in ``data_dir`` uses (the development layout unless ``env`` says else)."""
    return open_keystore(load_settings(state=STATE, data_dir=data_dir, **env))


def unkeyed(row: Row) -> str:
    fields = [row[k] for k in ("seq", "created_at", "action", "actor", "target", "detail", "prev_hash")]
    return hashlib.sha256(json.dumps(fields, separators=(",", ":")).encode()).hexdigest()


async def rows(db: AsyncConnection) -> list[Row]:
    return [r._asdict() for r in (await db.execute(text("SELECT * FROM audit_log ORDER BY seq"))).all()]


async def drop_guard(db: AsyncConnection) -> None:
    if db.dialect.name == "postgresql":
        await db.execute(text("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log"))
    else:
        await db.execute(text("DROP TRIGGER IF EXISTS audit_log_no_update"))
        await db.execute(text("DROP TRIGGER IF EXISTS audit_log_no_delete"))
    await db.commit()


async def put(db: AsyncConnection, new: list[Row]) -> None:
    """Replace the whole log with ``new`` (what an attacker who rewrites the table does)."""
    await db.execute(text("DELETE FROM audit_log"))
    if new:
        names = ", ".join(new[0])
        values = ", ".join(f":{k}" for k in new[0])
        await db.execute(text(f"INSERT INTO audit_log ({names}) VALUES ({values})"), new)
    await db.commit()


def rechain(log: list[Row], start: int) -> list[Row]:
    """Renumber from 1 and recompute ``prev_hash`` / ``hash`` (unkeyed) from index ``start`` on."""
    out = [dict(r) for r in log]
    for i, r in enumerate(out):
        r["seq"] = i + 1
        if i >= start:
            r["prev_hash"] = out[i - 1]["hash"] if i else "0" * 64
            r["hash"] = unkeyed(r)
    return out


def forged(after: Row) -> Row:
    return {
        **after,
        "seq": after["seq"] + 1,
        "action": "admin.role_revoked",
        "actor": "forger",
        "target": "nobody",
        "detail": "{}",
        "prev_hash": after["hash"],
    }


def _edit(row: Row, **changes: Any) -> Row:
    return {**row, **changes}


def _swap(log: list[Row], i: int) -> list[Row]:
    out = [dict(r) for r in log]
    a, b = out[i], out[i + 1]
    out[i], out[i + 1] = {**b, "seq": a["seq"]}, {**a, "seq": b["seq"]}
    return out


# Each tampering turns the log (oldest first) into the log the attacker leaves; ``m`` is a middle index.
TAMPERINGS: dict[str, Callable[[list[Row]], list[Row]]] = {
    "edit a middle entry": lambda log: [
        _edit(r, detail='{"forged":true}') if i == len(log) // 2 else r for i, r in enumerate(log)
    ],
    "edit the newest entry": lambda log: [*log[:-1], _edit(log[-1], actor="someone else")],
    "swap two middle entries": lambda log: _swap(log, len(log) // 2),
    "delete a middle entry": lambda log: [r for i, r in enumerate(log) if i != len(log) // 2],
    "delete the first entry": lambda log: log[1:],
    "backdate a middle entry": lambda log: [
        _edit(r, created_at=r["created_at"] - 86400) if i == len(log) // 2 else r for i, r in enumerate(log)
    ],
    "append an entry with a wrong hash": lambda log: [*log, {**forged(log[-1]), "hash": "f" * 64}],
    "give a middle entry another hash": lambda log: [
        _edit(r, hash=log[i + 1]["hash"]) if i == len(log) // 2 else r for i, r in enumerate(log)
    ],
    # The six the unkeyed chain missed (issue 14): truncation, and forgeries with a recomputed hash.
    "delete the newest entry": lambda log: log[:-1],
    "delete the newest 5 entries": lambda log: log[:-5],
    "append a forged entry with a correct hash": lambda log: [*log, _rehash(forged(log[-1]))],
    "edit the newest entry and recompute": lambda log: rechain(
        [*log[:-1], _edit(log[-1], detail='{"forged":true}')], len(log) - 1
    ),
    "delete a middle entry and renumber": lambda log: rechain(
        [r for i, r in enumerate(log) if i != len(log) // 2], len(log) // 2
    ),
    "edit a middle entry and recompute": lambda log: rechain(
        [_edit(r, actor="someone else") if i == len(log) // 2 else r for i, r in enumerate(log)],
        len(log) // 2,
    ),
}
TRUNCATIONS = {"delete the newest entry", "delete the newest 5 entries"}  # need a checkpoint to show


def _rehash(row: Row) -> Row:
    return {**row, "hash": unkeyed(row)}


async def attacker_connection(db_url: str) -> AsyncIterator[AsyncConnection]:
    """A connection without the append-only triggers; the log and the triggers are restored afterwards."""
    engine = create_async_engine(db_url)
    async with engine.connect() as db:
        saved = await rows(db)
        await drop_guard(db)
        try:
            yield db
        finally:
            await db.rollback()
            await put(db, saved)
            for statement in GUARD[db.dialect.name]:
                await db.execute(text(statement))
            await db.commit()
    await engine.dispose()
