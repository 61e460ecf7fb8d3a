"""Chats (private 1:1 unique per pair, groups), members and roles, pins."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from messenger import audit
from messenger.db.base import now
from messenger.db.models import Chat, Device, Member, Message, Pin, User
from messenger.errors import BadRequest, Conflict, Forbidden, NotFound
from messenger.realtime.events import emit_to_chat
from messenger.services.ids import home_state, new_id

KINDS = ("private", "group")
RANK = {"member": 0, "admin": 1, "owner": 2}
USER_ID = re.compile(r"^u[0-9a-f]{16}@[A-Z]{2}-[A-Z0-9]{1,3}$")


@dataclass(frozen=True)
class ChatView:
    chat: Chat
    role: str
    last_read_seq: int
    members: list[tuple[str, str]]  # (user_id, role)

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.chat.id,
            "kind": self.chat.kind,
            "title": self.chat.title,
            "last_seq": self.chat.last_seq,
            "role": self.role,
            "last_read_seq": self.last_read_seq,
            "members": [{"user_id": u, "role": r} for u, r in self.members],
        }


async def check_users(session: AsyncSession, *, user_ids: Sequence[str], state: str) -> None:
    """Every id is well formed; users homed on this node exist (other states' users are federation's)."""
    for user_id in user_ids:
        if not USER_ID.fullmatch(user_id):
            raise BadRequest(
                f"{user_id!r} is not a user id like u0123456789abcdef@RU-MOW", code="invalid_user"
            )
    local = [u for u in user_ids if home_state(u) == state]
    found = set(await session.scalars(select(User.id).where(User.id.in_(local))))
    missing = sorted(set(local) - found)
    if missing:
        raise NotFound(f"unknown users: {', '.join(missing)}", code="user_not_found")


async def members_of(session: AsyncSession, chat_id: str) -> list[tuple[str, str]]:
    rows = await session.execute(
        select(Member.user_id, Member.role)
        .where(Member.chat_id == chat_id)
        .order_by(Member.joined_at, Member.user_id)
    )
    return [(u, r) for u, r in rows.all()]


async def create_chat(
    session: AsyncSession, *, creator: str, state: str, kind: str, members: Sequence[str], title: str | None
) -> tuple[ChatView, bool]:
    """Create a chat (or return the existing private chat of this pair); returns (view, created)."""
    others = sorted(set(members) - {creator})
    await check_users(session, user_ids=others, state=state)
    pair_key = None
    if kind == "private":
        if len(others) != 1:
            raise BadRequest("a private chat has exactly one other member", code="invalid_members")
        pair_key = "|".join(sorted([creator, others[0]]))
        existing = await session.scalar(select(Chat).where(Chat.pair_key == pair_key))
        if existing is not None:
            return await view(session, chat=existing, user_id=creator), False
    chat = new_chat(session, kind=kind, title=title, pair_key=pair_key, created_by=creator)
    creator_role = "owner" if kind == "group" else "member"
    session.add(Member(chat_id=chat.id, user_id=creator, role=creator_role, joined_at=now(), last_read_seq=0))
    session.add_all(
        Member(chat_id=chat.id, user_id=u, role="member", joined_at=now(), last_read_seq=0) for u in others
    )
    await session.flush()
    result = await view(session, chat=chat, user_id=creator)
    await emit_to_chat(session, chat_id=chat.id, kind="chat.created", payload=_summary(result))
    await session.commit()
    return result, True


def new_chat(
    session: AsyncSession, *, kind: str, title: str | None, created_by: str, pair_key: str | None = None
) -> Chat:
    """A new chat row, no members yet (``create_chat``; an organisation's group chat, messenger.scim)."""
    chat = Chat(
        id=new_id("c"),
        kind=kind,
        title=title,
        pair_key=pair_key,
        created_by=created_by,
        created_at=now(),
        last_seq=0,
    )
    session.add(chat)
    return chat


def _summary(v: ChatView) -> dict[str, object]:
    return {
        "chat_id": v.chat.id,
        "kind": v.chat.kind,
        "title": v.chat.title,
        "members": [{"user_id": u, "role": r} for u, r in v.members],
    }


async def view(session: AsyncSession, *, chat: Chat, user_id: str) -> ChatView:
    members = await members_of(session, chat.id)
    me = await session.get(Member, (chat.id, user_id))
    return ChatView(chat, me.role if me else "", me.last_read_seq if me else 0, members)


async def get_chat(session: AsyncSession, chat_id: str) -> Chat:
    chat = await session.get(Chat, chat_id)
    if chat is None:
        raise NotFound(f"chat {chat_id} not found", code="chat_not_found")
    return chat


def _need(actor: Member, role: str, what: str) -> None:
    if RANK[actor.role] < RANK[role]:
        raise Forbidden(f"only a chat {role} may {what}", code="not_allowed")


async def add_member(session: AsyncSession, *, actor: Member, user_id: str, role: str, state: str) -> None:
    chat = await get_chat(session, actor.chat_id)
    if chat.kind != "group":
        raise BadRequest("members of a private chat cannot change", code="not_a_group")
    _need(actor, "admin" if role == "member" else "owner", f"add a {role}")
    if role == "owner":
        raise BadRequest(
            "a group has one owner; transfer with PATCH .../members/{user_id}", code="invalid_role"
        )
    await check_users(session, user_ids=[user_id], state=state)
    if await session.get(Member, (chat.id, user_id)) is not None:
        raise Conflict(f"{user_id} is already a member", code="already_member")
    session.add(Member(chat_id=chat.id, user_id=user_id, role=role, joined_at=now(), last_read_seq=0))
    await session.flush()
    await emit_to_chat(
        session,
        chat_id=chat.id,
        kind="member.added",
        payload={"chat_id": chat.id, "user_id": user_id, "role": role, "by": actor.user_id},
    )
    await session.commit()


async def remove_member(session: AsyncSession, *, actor: Member, user_id: str) -> None:
    """Remove ``user_id`` (admins over members, the owner over anyone) or leave when it is the actor."""
    chat = await get_chat(session, actor.chat_id)
    if chat.kind != "group":
        raise BadRequest("members of a private chat cannot change", code="not_a_group")
    target = await session.get(Member, (chat.id, user_id))
    if target is None:
        raise NotFound(f"{user_id} is not a member", code="member_not_found")
    if target.user_id != actor.user_id and RANK[actor.role] <= RANK[target.role]:
        raise Forbidden(f"a chat {actor.role} cannot remove a {target.role}", code="not_allowed")
    if target.user_id != actor.user_id:
        detail = {"chat": chat.id, "by_role": actor.role, "role": target.role}
        await audit.record(
            session, action="chat.member_removed", actor=actor.user_id, target=user_id, detail=detail
        )
    await session.delete(target)
    await session.flush()
    if target.role == "owner" and (heir := await _promote_successor(session, chat.id)):
        inherited = {"chat": chat.id, "succession": True}  # the owner left; the heir takes over
        await audit.record(
            session, action="chat.ownership_transferred", actor=actor.user_id, target=heir, detail=inherited
        )
    await emit_to_chat(
        session,
        chat_id=chat.id,
        kind="member.removed",
        also=[user_id],
        payload={"chat_id": chat.id, "user_id": user_id, "by": actor.user_id},
    )
    await session.commit()


async def _promote_successor(session: AsyncSession, chat_id: str) -> str | None:
    """When the owner leaves, the longest-standing admin (else member) becomes owner; returns who."""
    heir = await session.scalar(
        select(Member)
        .where(Member.chat_id == chat_id)
        .order_by((Member.role == "admin").desc(), Member.joined_at)
        .limit(1)
    )
    if heir is not None:
        heir.role = "owner"
        await emit_to_chat(
            session,
            chat_id=chat_id,
            kind="member.role",
            payload={"chat_id": chat_id, "user_id": heir.user_id, "role": "owner"},
        )
        return heir.user_id
    return None


async def set_role(session: AsyncSession, *, actor: Member, user_id: str, role: str) -> None:
    """The owner makes members admins (or back); ``role=owner`` transfers ownership (old owner → admin)."""
    chat = await get_chat(session, actor.chat_id)
    if chat.kind != "group":
        raise BadRequest("a private chat has no roles", code="not_a_group")
    _need(actor, "owner", "change roles")
    target = await session.get(Member, (chat.id, user_id))
    if target is None:
        raise NotFound(f"{user_id} is not a member", code="member_not_found")
    if target.user_id == actor.user_id:
        raise BadRequest(
            "the owner cannot change their own role; transfer ownership instead", code="invalid_role"
        )
    detail = {"chat": chat.id, "from": target.role, "to": role}
    action = "chat.ownership_transferred" if role == "owner" else "chat.role_changed"
    await audit.record(session, action=action, actor=actor.user_id, target=user_id, detail=detail)
    target.role = role
    changes = [(user_id, role)]
    if role == "owner":
        actor.role = "admin"
        changes.append((actor.user_id, "admin"))
    for uid, new_role in changes:
        await emit_to_chat(
            session,
            chat_id=chat.id,
            kind="member.role",
            payload={"chat_id": chat.id, "user_id": uid, "role": new_role},
        )
    await session.commit()


async def pin(session: AsyncSession, *, actor: Member, seq: int) -> None:
    chat = await get_chat(session, actor.chat_id)
    if chat.kind == "group":
        _need(actor, "admin", "pin messages")
    msg = await session.scalar(select(Message).where(Message.chat_id == chat.id, Message.seq == seq))
    if msg is None or msg.deleted_at is not None:
        raise NotFound(f"message {seq} not found", code="message_not_found")
    if await session.get(Pin, (chat.id, seq)) is not None:
        raise Conflict(f"message {seq} is already pinned", code="already_pinned")
    session.add(Pin(chat_id=chat.id, seq=seq, pinned_by=actor.user_id, pinned_at=now()))
    await emit_to_chat(
        session,
        chat_id=chat.id,
        kind="pin.added",
        payload={"chat_id": chat.id, "seq": seq, "by": actor.user_id},
    )
    await session.commit()


async def unpin(session: AsyncSession, *, actor: Member, seq: int) -> None:
    chat = await get_chat(session, actor.chat_id)
    if chat.kind == "group":
        _need(actor, "admin", "unpin messages")
    found = await session.execute(delete(Pin).where(Pin.chat_id == chat.id, Pin.seq == seq))
    if not found.rowcount:  # type: ignore[attr-defined]
        raise NotFound(f"message {seq} is not pinned", code="pin_not_found")
    await emit_to_chat(
        session,
        chat_id=chat.id,
        kind="pin.removed",
        payload={"chat_id": chat.id, "seq": seq, "by": actor.user_id},
    )
    await session.commit()


async def pins(session: AsyncSession, *, chat_id: str) -> list[dict[str, object]]:
    rows = await session.scalars(select(Pin).where(Pin.chat_id == chat_id).order_by(Pin.pinned_at))
    return [{"seq": p.seq, "pinned_by": p.pinned_by, "pinned_at": p.pinned_at} for p in rows]


async def chat_device_ids(session: AsyncSession, *, chat_id: str) -> set[str]:
    """Active local devices of the chat's members: the recipients every message must be encrypted to."""
    rows = await session.scalars(
        select(Device.id)
        .join(Member, Member.user_id == Device.user_id)
        .where(Member.chat_id == chat_id, Device.revoked_at.is_(None))
    )
    return set(rows)
