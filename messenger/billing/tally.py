"""Message counts that outlive their rows: bills count messages per period from ``messages``; when rows are
deleted (a chat deleted through the ORM, e.g. a federated replica whose last local member left), their
counts per sender and period move into ``message_tallies`` first, in the same flush.

Retention and account deletion tombstone messages instead of deleting them, so they need no tally.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from messenger.calls.metering import period_of
from messenger.db.models import Chat, Message
from messenger.db.models.billing import MessageTally


def carry_over(session: Session, chat_ids: Iterable[str]) -> int:
    """Add the messages of ``chat_ids`` to their senders' tallies (sync session, inside a flush)."""
    ids = list(chat_ids)
    if not ids:
        return 0
    rows = session.execute(select(Message.sender_user_id, Message.created_at).where(Message.chat_id.in_(ids)))
    counts = Counter((user, period_of(ts)) for user, ts in rows)
    if not counts:
        return 0
    dialect: Any = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(MessageTally)
    stmt = stmt.on_conflict_do_update(
        index_elements=[MessageTally.user_id, MessageTally.period],
        set_={"messages": MessageTally.messages + stmt.excluded.messages},
    )
    session.execute(stmt, [{"user_id": u, "period": p, "messages": n} for (u, p), n in counts.items()])
    return sum(counts.values())


def _before_flush(session: Session, _context: object, _instances: object) -> None:
    carry_over(session, [obj.id for obj in session.deleted if isinstance(obj, Chat)])


def install() -> None:
    """Tally the messages of every chat deleted through an ORM session of this process (idempotent)."""
    if not event.contains(Session, "before_flush", _before_flush):
        event.listen(Session, "before_flush", _before_flush)
