"""Key backup: ``POST/GET /v1/keys/backup/version``, ``PUT/GET /v1/keys/backup``.

A backup version is the public half of the user's recovery key; its sessions are room keys the client
encrypted to it (``PkEncryption``, Matrix's ``m.megolm_backup.v1.curve25519-aes-sha2``), opaque to the
node, which never holds the recovery key. Uploads go to the newest version only (an older one is 409
``stale_backup_version``, as Matrix refuses ``M_WRONG_ROOM_KEYS_VERSION``); a new version starts empty
(the old ones are deleted with their sessions). Bounds: ``max_backup_sessions`` per upload,
``max_ciphertext_bytes`` per session.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from pydantic import Field
from sqlalchemy import delete, func, select

from messenger.api.deps import CurrentDevice, NodeDep, SessionDep
from messenger.api.keys import Key
from messenger.api.schemas import Body, Out
from messenger.db.models import BackupSession, KeyBackup
from messenger.errors import BadRequest, Conflict, NotFound
from messenger.services.keys import check_key
from messenger.services.messages import check_ciphertext

router = APIRouter(prefix="/v1/keys/backup", tags=["keys"])

MAX_SESSIONS = 1000  # per upload: bounds one request's statement; clients upload in chunks
SessionId = Annotated[str, Field(pattern=r"^[A-Za-z0-9+/=_-]{1,64}$")]  # Megolm: base64 of 32 bytes


class VersionIn(Body):
    public_key: Key


class VersionOut(Out):
    version: int
    public_key: str


class BackupIn(Body):
    version: int = Field(ge=1, lt=2**31)
    sessions: dict[SessionId, Annotated[str, Field(pattern=r"^[A-Za-z0-9+/=|_-]+$")]]  # PkEncryption parts


class BackupOut(VersionOut):
    sessions: dict[str, str]


class StoredOut(Out):
    count: int = Field(description="sessions in this version now")


async def _latest(session: SessionDep, user_id: str) -> KeyBackup:
    row = await session.scalar(
        select(KeyBackup).where(KeyBackup.user_id == user_id).order_by(KeyBackup.version.desc()).limit(1)
    )
    if row is None:
        raise NotFound("no key backup", code="backup_not_found")
    return row


@router.post("/version", status_code=201)
async def new_version(body: VersionIn, session: SessionDep, device: CurrentDevice) -> VersionOut:
    """Start a backup version for a (new) recovery key; earlier versions and their sessions go."""
    check_key(body.public_key, "public_key")
    last = await session.scalar(
        select(func.max(KeyBackup.version)).where(KeyBackup.user_id == device.user_id)
    )
    version = (last or 0) + 1
    await session.execute(delete(BackupSession).where(BackupSession.user_id == device.user_id))
    await session.execute(delete(KeyBackup).where(KeyBackup.user_id == device.user_id))
    session.add(KeyBackup(user_id=device.user_id, version=version, public_key=body.public_key))
    await session.commit()
    return VersionOut(version=version, public_key=body.public_key)


@router.get("/version")
async def get_version(session: SessionDep, device: CurrentDevice) -> VersionOut:
    row = await _latest(session, device.user_id)
    return VersionOut(version=row.version, public_key=row.public_key)


@router.put("")
async def upload(body: BackupIn, session: SessionDep, device: CurrentDevice, node: NodeDep) -> StoredOut:
    """Add or replace encrypted room keys (by Megolm session id) in the newest version."""
    if len(body.sessions) > MAX_SESSIONS:
        raise BadRequest(f"at most {MAX_SESSIONS} sessions per upload", code="too_many_sessions")
    for data in body.sessions.values():
        check_ciphertext(node.settings, data)
    latest = await _latest(session, device.user_id)
    if body.version != latest.version:
        raise Conflict(
            f"backup version {body.version} is not the current one ({latest.version})",
            code="stale_backup_version",
        )
    user_id, version = device.user_id, latest.version
    ids = sorted(body.sessions)
    await session.execute(
        delete(BackupSession).where(
            BackupSession.user_id == user_id,
            BackupSession.version == version,
            BackupSession.session_id.in_(ids),
        )
    )
    session.add_all(
        BackupSession(user_id=user_id, version=version, session_id=s, data=body.sessions[s]) for s in ids
    )
    await session.flush()
    count = await session.scalar(
        select(func.count()).where(BackupSession.user_id == user_id, BackupSession.version == version)
    )
    await session.commit()
    return StoredOut(count=int(count or 0))


@router.get("")
async def download(session: SessionDep, device: CurrentDevice) -> BackupOut:
    """The newest version with all its encrypted room keys."""
    latest = await _latest(session, device.user_id)
    rows = await session.execute(
        select(BackupSession.session_id, BackupSession.data).where(
            BackupSession.user_id == latest.user_id, BackupSession.version == latest.version
        )
    )
    return BackupOut(version=latest.version, public_key=latest.public_key, sessions=dict(rows.all()))
