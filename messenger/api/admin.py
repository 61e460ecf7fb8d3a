"""``/v1/admin``: operator API with roles (admin, auditor, support) and least privilege (messenger.admin).

Every call that changes something, every read of the audit log or of a user's data, and every call
refused for want of a permission (``admin.denied``) is itself recorded in the audit log with the caller
as actor. With ``audit_checkpoint_file`` set, the node appends a checkpoint of the audit chain to it
every ``audit_checkpoint_seconds`` (``messenger.audit``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Response
from pydantic import Field
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from messenger import admin, audit
from messenger.api.deps import CurrentDevice, NodeDep, SessionDep
from messenger.api.schemas import Body, DbInt, Out
from messenger.db.models import AdminRole, AuditEntry, Chat, Device, Member, User
from messenger.errors import Forbidden, MessengerConfigError, NotFound
from messenger.node import Node
from messenger.scim import service as scim
from messenger.services import accounts

log = logging.getLogger("messenger.audit")

router = APIRouter(prefix="/v1/admin", tags=["admin"])
CHECKPOINTS = "audit_checkpoints"  # node.features key of the checkpoint task


async def startup(node: Node) -> None:
    if node.settings.audit_checkpoint_file is not None:
        node.features[CHECKPOINTS] = asyncio.create_task(_checkpoints(node))


async def shutdown(node: Node) -> None:
    task: asyncio.Task[None] | None = node.features.pop(CHECKPOINTS, None)
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _checkpoints(node: Node) -> None:
    """Every ``audit_checkpoint_seconds``, append the chain's head to ``audit_checkpoint_file``."""
    path, state = node.settings.audit_checkpoint_file, node.settings.state
    assert path is not None
    while True:
        await asyncio.sleep(node.settings.audit_checkpoint_seconds)
        try:
            async with node.sessions() as session:
                cp = await audit.write_checkpoint(session, node.keys, state=state, path=path)
            log.info("audit checkpoint", extra={"seq": cp.seq, "head": cp.head})
        except audit.CheckpointBusy:
            continue  # another worker is writing this round's checkpoint
        except MessengerConfigError as exc:  # a broken chain or a forged checkpoint file: say so loudly
            log.error("audit checkpoint refused", extra={"reason": str(exc)})


class Operator:
    """The calling device's user and operator role (None for ordinary users)."""

    def __init__(self, user_id: str, role: str | None, session: AsyncSession):
        self.user_id, self.role, self._session = user_id, role, session

    async def require(self, permission: str) -> None:
        """403 unless the role holds ``permission``; the refusal is audited and committed first (call
        this before the route changes anything: it shares the route's session)."""
        try:
            admin.require(self.role, permission)
        except Forbidden:
            detail = {"permission": permission, "role": self.role}
            await audit.record(self._session, action="admin.denied", actor=self.user_id, detail=detail)
            await self._session.commit()
            raise


async def operator(session: SessionDep, node: NodeDep, device: CurrentDevice) -> Operator:
    phones = admin.bootstrap_phones(node.settings.admin_phones)
    role = await admin.role_of(session, user_id=device.user_id, admin_phones=phones)
    return Operator(device.user_id, role, session)


OperatorDep = Annotated[Operator, Depends(operator)]


class MeOut(Out):
    user_id: str
    role: str | None
    permissions: list[str]


class RoleIn(Body):
    role: Literal["admin", "auditor", "support"]


class RoleOut(Out):
    user_id: str
    role: str
    granted_by: str | None
    granted_at: float


class AuditOut(Out):
    seq: int
    created_at: float
    action: str
    actor: str | None
    target: str | None
    detail: str
    prev_hash: str
    hash: str


class VerifyOut(Out):
    ok: bool
    entries: int
    head: str
    bad_seq: int | None
    reason: str | None
    checkpoints: int = Field(description="checkpoints of audit_checkpoint_file the chain matched")


class AdminDeviceOut(Out):
    id: str
    name: str
    platform: str
    created_at: float
    revoked_at: float | None


class AdminUserOut(Out):
    user_id: str
    phone: str
    created_at: float
    second_factor: bool
    devices: list[AdminDeviceOut]


class AdminChatOut(Out):
    chat_id: str
    kind: str
    title: str | None
    role: str
    joined_at: float
    last_seq: int
    members: int = Field(description="member count")


@router.get("/me")
async def me(op: OperatorDep) -> MeOut:
    """The caller's operator role and what it allows (ordinary users: role null, no permissions)."""
    allowed = sorted(p for p, roles in admin.PERMISSIONS.items() if op.role in roles)
    return MeOut(user_id=op.user_id, role=op.role, permissions=allowed)


@router.get("/roles")
async def list_roles(op: OperatorDep, session: SessionDep) -> list[RoleOut]:
    await op.require("roles.write")
    rows = await session.scalars(select(AdminRole).order_by(AdminRole.granted_at))
    return [RoleOut.model_validate(r, from_attributes=True) for r in rows]


@router.put("/roles/{user_id}", status_code=204)
async def grant_role(user_id: str, body: RoleIn, op: OperatorDep, session: SessionDep) -> Response:
    await op.require("roles.write")
    if await session.get(User, user_id) is None:
        raise NotFound(f"user {user_id} not found", code="user_not_found")
    row = await session.get(AdminRole, user_id)
    if row is None:
        session.add(AdminRole(user_id=user_id, role=body.role, granted_by=op.user_id))
    else:
        row.role, row.granted_by = body.role, op.user_id
    await audit.record(
        session, action="admin.role_granted", actor=op.user_id, target=user_id, detail={"role": body.role}
    )
    await session.commit()
    return Response(status_code=204)


@router.delete("/roles/{user_id}", status_code=204)
async def revoke_role(user_id: str, op: OperatorDep, session: SessionDep) -> Response:
    await op.require("roles.write")
    result = await session.execute(delete(AdminRole).where(AdminRole.user_id == user_id))
    if not result.rowcount:  # type: ignore[attr-defined]
        raise NotFound(f"user {user_id} holds no operator role", code="role_not_found")
    await audit.record(session, action="admin.role_revoked", actor=op.user_id, target=user_id)
    await session.commit()
    return Response(status_code=204)


@router.get("/audit")
async def read_audit(
    op: OperatorDep,
    session: SessionDep,
    after: Annotated[DbInt, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    action: Annotated[str | None, Query(max_length=64)] = None,
) -> list[AuditOut]:
    """Audit entries with seq > ``after`` (optionally of one ``action``), oldest first."""
    await op.require("audit.read")
    query = select(AuditEntry).where(AuditEntry.seq > after)
    if action:
        query = query.where(AuditEntry.action == action)
    rows = list(await session.scalars(query.order_by(AuditEntry.seq).limit(limit)))
    await audit.record(
        session, action="admin.audit_read", actor=op.user_id, detail={"after": after, "action": action}
    )
    await session.commit()
    return [AuditOut.model_validate(r, from_attributes=True) for r in rows]


@router.get("/audit/verify")
async def verify_audit(op: OperatorDep, session: SessionDep, node: NodeDep) -> VerifyOut:
    """Walk the chain (and the node's checkpoint file): ``ok`` with the head hash, or the first broken
    entry and why."""
    await op.require("audit.read")
    path, state = node.settings.audit_checkpoint_file, node.settings.state
    try:
        checkpoints = audit.read_checkpoints(node.keys, path, state=state) if path and path.exists() else []
    except MessengerConfigError as exc:  # a forged or unreadable checkpoint file fails the check
        return VerifyOut(ok=False, entries=0, head="", bad_seq=None, reason=str(exc), checkpoints=0)
    result = await audit.verify(session, node.keys, checkpoints)
    return VerifyOut(
        ok=result.ok,
        entries=result.entries,
        head=result.head,
        bad_seq=result.bad_seq,
        reason=result.reason,
        checkpoints=result.checkpoints,
    )


async def _user(session: SessionDep, user_id: str) -> User:
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound(f"user {user_id} not found", code="user_not_found")
    return user


@router.get("/users/{user_id}")
async def get_user(user_id: str, op: OperatorDep, session: SessionDep) -> AdminUserOut:
    """An account and all its devices (also revoked ones); no chats or message metadata."""
    await op.require("users.read")
    user = await _user(session, user_id)
    devices = await session.scalars(
        select(Device).where(Device.user_id == user_id).order_by(Device.created_at)
    )
    out = AdminUserOut(
        user_id=user.id,
        phone=user.phone,
        created_at=user.created_at,
        second_factor=bool(user.totp_secret or user.pin_hash),
        devices=[AdminDeviceOut.model_validate(d, from_attributes=True) for d in devices],
    )
    await audit.record(session, action="admin.user_viewed", actor=op.user_id, target=user_id)
    await session.commit()
    return out


@router.delete("/users/{user_id}/devices/{device_id}", status_code=204)
async def revoke_device(
    user_id: str, device_id: str, op: OperatorDep, session: SessionDep, node: NodeDep
) -> Response:
    """Revoke a user's device (e.g. a lost phone): its token dies and its sockets close at once."""
    await op.require("devices.revoke")
    await _user(session, user_id)
    await audit.record(
        session, action="admin.device_revoked", actor=op.user_id, target=device_id, detail={"user": user_id}
    )
    await accounts.revoke_device(session, node, user_id=user_id, device_id=device_id)
    return Response(status_code=204)


@router.get("/users/{user_id}/chats")
async def user_chats(user_id: str, op: OperatorDep, session: SessionDep) -> list[AdminChatOut]:
    """Message metadata: the chats a user is in (admins only)."""
    await op.require("metadata.read")
    await _user(session, user_id)
    rows = (
        await session.execute(
            select(Chat, Member).join(Member, Member.chat_id == Chat.id).where(Member.user_id == user_id)
        )
    ).all()
    ids = [chat.id for chat, _ in rows]
    counted = await session.execute(
        select(Member.chat_id, func.count()).where(Member.chat_id.in_(ids)).group_by(Member.chat_id)
    )
    counts: dict[str, int] = {chat_id: n for chat_id, n in counted.all()}
    await audit.record(session, action="admin.metadata_read", actor=op.user_id, target=user_id)
    await session.commit()
    return [
        AdminChatOut(
            chat_id=chat.id,
            kind=chat.kind,
            title=chat.title,
            role=member.role,
            joined_at=member.joined_at,
            last_seq=chat.last_seq,
            members=counts[chat.id],
        )
        for chat, member in rows
    ]


class OrgIn(Body):
    name: str = Field(min_length=1, max_length=200)
    kind: Literal["school", "company", "ministry"]


class OrgOut(Out):
    id: str
    name: str
    kind: str
    created_at: float
    token: str | None = Field(None, description="the SCIM bearer token: shown once, only its hash is stored")


@router.post("/organisations", status_code=201)
async def create_organisation(body: OrgIn, op: OperatorDep, session: SessionDep) -> OrgOut:
    """A new organisation directory and the bearer token of its SCIM client (``/scim/v2``)."""
    await op.require("orgs.write")
    org, token = await scim.create_org(session, name=body.name, kind=body.kind, created_by=op.user_id)
    return OrgOut(id=org.id, name=org.name, kind=org.kind, created_at=org.created_at, token=token)


@router.get("/organisations")
async def list_organisations(op: OperatorDep, session: SessionDep) -> list[OrgOut]:
    await op.require("orgs.write")
    orgs = await scim.list_orgs(session)
    return [OrgOut(id=o.id, name=o.name, kind=o.kind, created_at=o.created_at) for o in orgs]


@router.post("/organisations/{org_id}/token")
async def rotate_organisation_token(org_id: str, op: OperatorDep, session: SessionDep) -> OrgOut:
    """A new SCIM token for the organisation; the old one stops working at once."""
    await op.require("orgs.write")
    org = await session.get(scim.Organisation, org_id)
    if org is None:
        raise NotFound(f"organisation {org_id} not found", code="organisation_not_found")
    token = await scim.rotate_token(session, org=org, actor=op.user_id)
    return OrgOut(id=org.id, name=org.name, kind=org.kind, created_at=org.created_at, token=token)
