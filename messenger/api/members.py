"""Group membership: add, remove, change role, leave (admins over members, the owner over everyone)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Response
from sqlalchemy import func, select

from messenger.api.deps import ChatMember, NodeDep, SessionDep
from messenger.api.schemas import Body
from messenger.db.models import Member
from messenger.errors import Conflict
from messenger.federation.service import federation_of
from messenger.services import chats

router = APIRouter(prefix="/v1/chats/{chat_id}/members", tags=["members"])


class MemberIn(Body):
    user_id: str
    role: Literal["member", "admin"] = "member"


class RoleIn(Body):
    role: Literal["member", "admin", "owner"]


@router.post("", status_code=204)
async def add_member(body: MemberIn, member: ChatMember, session: SessionDep, node: NodeDep) -> Response:
    fed = federation_of(node)
    if fed is not None:
        await fed.check_users(session, [body.user_id])
        if await fed.forward(session, member, "add", user_id=body.user_id, role=body.role):
            return Response(status_code=202)  # the chat's hosting node in another state decides
    count = await session.scalar(select(func.count()).where(Member.chat_id == member.chat_id))
    if (count or 0) >= node.settings.max_group_members:
        raise Conflict(f"a group has at most {node.settings.max_group_members} members", code="group_full")
    await chats.add_member(
        session, actor=member, user_id=body.user_id, role=body.role, state=node.settings.state
    )
    return Response(status_code=204)


@router.delete("/{user_id}", status_code=204)
async def remove_member(user_id: str, member: ChatMember, session: SessionDep, node: NodeDep) -> Response:
    """Remove a member; a member removing themselves leaves (``/me`` works too). 202 when the chat is
    hosted in another state: its node carries it out."""
    target = member.user_id if user_id == "me" else user_id
    fed = federation_of(node)
    if fed is not None and await fed.forward(session, member, "remove", user_id=target):
        return Response(status_code=202)
    await chats.remove_member(session, actor=member, user_id=target)
    return Response(status_code=204)


@router.patch("/{user_id}", status_code=204)
async def set_role(
    user_id: str, body: RoleIn, member: ChatMember, session: SessionDep, node: NodeDep
) -> Response:
    """The owner changes a role; ``owner`` transfers ownership (the old owner becomes admin)."""
    fed = federation_of(node)
    if fed is not None and await fed.forward(session, member, "role", user_id=user_id, role=body.role):
        return Response(status_code=202)
    await chats.set_role(session, actor=member, user_id=user_id, role=body.role)
    return Response(status_code=204)
