"""End-to-end keys of the user: key backups (room keys encrypted to the user's recovery key, which the
node never holds) and to-device transaction ids of their devices.

Export: the backup versions with their encrypted sessions (only the recovery key opens them). Erase:
both go (device rows, prekeys and to-device txns also cascade with the devices).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import delete, select

from messenger.datarights.registry import Context, Provider
from messenger.db.models import BackupSession, KeyBackup, ToDeviceTxn


async def export(ctx: Context) -> Mapping[str, Any]:
    session, user_id = ctx.session, ctx.subject.user_id
    versions = await session.scalars(select(KeyBackup).where(KeyBackup.user_id == user_id))
    rows = await session.execute(
        select(BackupSession.version, BackupSession.session_id, BackupSession.data).where(
            BackupSession.user_id == user_id
        )
    )
    sessions: dict[int, dict[str, str]] = {}
    for version, session_id, data in rows.all():
        sessions.setdefault(version, {})[session_id] = data
    return {
        "key_backups": [
            {"version": v.version, "public_key": v.public_key, "sessions": sessions.get(v.version, {})}
            for v in versions
        ]
    }


async def erase(ctx: Context) -> Mapping[str, int]:
    session, user_id = ctx.session, ctx.subject.user_id
    await session.execute(delete(BackupSession).where(BackupSession.user_id == user_id))
    gone = await session.execute(delete(KeyBackup).where(KeyBackup.user_id == user_id))
    await session.execute(delete(ToDeviceTxn).where(ToDeviceTxn.device_id.in_(ctx.subject.device_ids)))
    return {"backups": gone.rowcount or 0}  # type: ignore[attr-defined]


PROVIDER = Provider(
    name="keys",
    covers={"key_backups": ("user_id",), "backup_sessions": ("user_id",), "to_device_txns": ("device_id",)},
    export=export,
    erase=erase,
)
