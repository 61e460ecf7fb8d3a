"""Chat changes made by a member homed in another state than the chat's host.

A replica cannot change a chat itself (only the hosting node orders its history), so the member's
home node forwards the change as a ``chat.op`` PDU and answers 202. The hosting node stores it with the
transaction that brought it (``fed_pending_ops``) and then runs the core service as that member, with
the same permission checks as for a local member; the resulting chat events reach every member state
through the normal relay. A change the host refuses (e.g. not an admin) is logged and dropped.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from messenger.billing.tariffs import Rounding
from messenger.db.models import Member
from messenger.errors import ApiError
from messenger.federation import calls, meetings
from messenger.federation.models import PendingOp
from messenger.services import chats, messages
from messenger.services.ids import home_state

log = logging.getLogger("messenger.federation.ops")

OPS = frozenset({"add", "remove", "role", "pin", "unpin", "delete"})


async def run_pending(sessions: async_sessionmaker[AsyncSession], local: str, rounding: Rounding) -> None:
    """Carry out the stored ops in arrival order, each in its own transaction (services commit); call
    ops (``messenger.federation.calls``) meter with the node's minute ``rounding``; meeting RSVPs come
    from ``messenger.federation.meetings``."""
    async with sessions() as session:
        ids = list(await session.scalars(select(PendingOp.id).order_by(PendingOp.id)))
        await session.commit()
    for op_id in ids:
        async with sessions() as session:
            row = await session.get(PendingOp, op_id)
            if row is None:
                continue  # another request ran it
            origin, op = row.origin, json.loads(row.op)
            await session.execute(delete(PendingOp).where(PendingOp.id == op_id))
            try:
                if str(op["op"]).startswith("call."):
                    await calls.run_op(session, origin, op, rounding)  # commits the deletion with it
                elif str(op["op"]).startswith("meeting."):
                    await meetings.run_op(session, origin, op)
                else:
                    await _run(session, local, origin, op)  # commits the deletion with the change
            except (ApiError, KeyError, TypeError, ValueError) as exc:
                await session.rollback()
                await session.execute(delete(PendingOp).where(PendingOp.id == op_id))
                await session.commit()
                log.warning(
                    "forwarded change refused",
                    extra={
                        "origin": origin,
                        "chat_id": op.get("chat_id") or op.get("call_id") or op.get("meeting_id"),
                        "op": op.get("op"),
                        "reason": str(exc),
                    },
                )


async def _run(session: AsyncSession, local: str, origin: str, op: Mapping[str, Any]) -> None:
    chat_id, actor_id, kind, args = str(op["chat_id"]), str(op["actor"]), str(op["op"]), dict(op["args"])
    if home_state(actor_id) != origin:
        raise ValueError(f"{origin} cannot act for {actor_id}")
    actor = await session.get(Member, (chat_id, actor_id))
    if actor is None:
        raise ValueError(f"{actor_id} is not a member of {chat_id}")
    if kind == "add":
        await chats.add_member(
            session, actor=actor, user_id=str(args["user_id"]), role=str(args["role"]), state=local
        )
    elif kind == "remove":
        await chats.remove_member(session, actor=actor, user_id=str(args["user_id"]))
    elif kind == "role":
        await chats.set_role(session, actor=actor, user_id=str(args["user_id"]), role=str(args["role"]))
    elif kind == "pin":
        await chats.pin(session, actor=actor, seq=int(args["seq"]))
    elif kind == "unpin":
        await chats.unpin(session, actor=actor, seq=int(args["seq"]))
    elif kind == "delete":
        chat = await chats.get_chat(session, chat_id)
        await messages.delete_message(session, member=actor, chat=chat, seq=int(args["seq"]))
    else:
        raise ValueError(f"unknown chat op {kind!r}")
