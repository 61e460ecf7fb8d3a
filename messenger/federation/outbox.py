"""The outbound side: PDUs written to the outbox in the caller's transaction.

* ``ChatRelay`` is the chat-event hook (``messenger.realtime.events.emit_to_chat``): an event of a chat
  with members in other states is queued for each of those states. The hosting node sends membership
  changes with a snapshot of the chat; a replica may only send events that do not change the chat
  (read receipts, feature events), and is refused the rest (``409 hosted_elsewhere``).
* ``MessageFanout`` carries a message posted on the hosting node, with its one Megolm ciphertext, to the
  member states.
* ``submit`` forwards a message posted (or edited) on a replica to the hosting node, which sequences
  it (or applies the edit) and fans it out.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from messenger.db.base import now
from messenger.db.models import Chat, Member
from messenger.federation.errors import HostedElsewhere
from messenger.federation.models import ChatHost, OutboxItem
from messenger.services.ids import home_state

WAKE = "msgfleet.federation.wake"
# Events that change a chat: only its hosting node decides them (and replicas apply them).
HOST_ONLY = frozenset(
    {
        "chat.created",
        "member.added",
        "member.removed",
        "member.role",
        "pin.added",
        "pin.removed",
        "message.deleted",
    }
)
SNAPSHOT_KINDS = frozenset({"chat.created", "member.added", "member.removed", "member.role"})
# Events any member state may send for its own user (the payload's ``user_id``).
MEMBER_KINDS = frozenset({"receipt", "location.shared", "location.updated", "location.stopped"})
# Every kind ``emit_to_chat`` sends; a replica refuses a ``chat.event`` of any other kind.
CHAT_EVENT_KINDS = HOST_ONLY | MEMBER_KINDS


async def enqueue(session: AsyncSession, destinations: Sequence[str], pdu: Mapping[str, Any]) -> None:
    """Queue ``pdu`` for each destination state inside the caller's transaction."""
    if not destinations:
        return
    body, ts = json.dumps(pdu, separators=(",", ":")), now()
    await session.execute(
        insert(OutboxItem), [{"destination": d, "pdu": body, "created_at": ts} for d in destinations]
    )
    session.info[WAKE] = True


async def host_of(session: AsyncSession, chat_id: str, local: str) -> str:
    """The state whose node hosts (sequences) ``chat_id``."""
    host = await session.scalar(select(ChatHost.host_state).where(ChatHost.chat_id == chat_id))
    return host or local


async def snapshot(session: AsyncSession, chat_id: str) -> dict[str, Any]:
    """What a replica needs of a chat: its metadata and member list (ids and roles, no profiles)."""
    chat = await session.get(Chat, chat_id)
    assert chat is not None
    rows = await session.execute(
        select(Member.user_id, Member.role, Member.joined_at).where(Member.chat_id == chat_id)
    )
    return {
        "chat_id": chat.id,
        "kind": chat.kind,
        "title": chat.title,
        "pair_key": chat.pair_key,
        "created_by": chat.created_by,
        "created_at": chat.created_at,
        "last_seq": chat.last_seq,
        "members": [{"user_id": u, "role": r, "joined_at": j} for u, r, j in rows.all()],
    }


@dataclass(frozen=True)
class ChatRelay:
    """The ``emit_to_chat`` hook of a node of state ``local``."""

    local: str

    async def __call__(
        self,
        session: AsyncSession,
        *,
        chat_id: str,
        kind: str,
        payload: Any,
        members: Sequence[str],
        also: Sequence[str],
    ) -> None:
        states = {home_state(u) for u in [*members, *also]} - {self.local}
        if not states or not isinstance(payload, Mapping):
            return
        host = await host_of(session, chat_id, self.local)
        if host != self.local and kind in HOST_ONLY:
            raise HostedElsewhere(
                f"chat {chat_id} is hosted by the node of {host}; this change is made there (not supported "
                "from a member state yet)"
            )
        pdu: dict[str, Any] = {
            "type": "chat.event",
            "chat_id": chat_id,
            "kind": kind,
            "payload": dict(payload),
            "also": list(also),
        }
        if host == self.local and kind in SNAPSHOT_KINDS:
            pdu["snapshot"] = await snapshot(session, chat_id)
        await enqueue(session, sorted(states), pdu)


@dataclass(frozen=True)
class MessageFanout:
    """The member states of a chat with members on other states' nodes
    (``messenger.services.messages.Relay``)."""

    local: str
    host: str
    states: frozenset[str]  # other states with members in the chat

    async def relay(self, session: AsyncSession, *, kind: str, message: Mapping[str, Any]) -> None:
        """On the hosting node: queue the sequenced (``message.new``) or edited (``message.edited``)
        message, its one ciphertext included, for every member state."""
        for state in sorted(self.states):
            await enqueue(session, [state], {"type": kind, **message})


async def submit(
    session: AsyncSession, fanout: MessageFanout, *, kind: str, message: Mapping[str, Any]
) -> None:
    """On a replica: queue a new message (``message.submit``; the host assigns ``seq``) or an edit
    (``message.edit``) for the hosting node, which fans it out."""
    await enqueue(session, [fanout.host], {"type": kind, **message})
