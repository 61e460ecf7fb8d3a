"""Federation tables: the outbox, per-destination delivery state, received transactions, chat hosts.

Only this node's outbound queue and bookkeeping live here; no other state's users or devices.
"""

from __future__ import annotations

from sqlalchemy import Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from messenger.db.base import Base, now


class OutboxItem(Base):
    """One PDU for one destination state, written in the same transaction as the change it carries.

    ``txn_id`` is set when the item is first put into a transaction; a retry resends exactly the same
    items under the same id, so the receiver's transaction table makes delivery idempotent. Delivered
    items are deleted.
    """

    __tablename__ = "fed_outbox"
    __table_args__ = (Index("ix_fed_outbox_destination_id", "destination", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    destination: Mapped[str] = mapped_column(String(8))
    txn_id: Mapped[str | None] = mapped_column(String(40))
    pdu: Mapped[str] = mapped_column(Text)  # JSON object
    created_at: Mapped[float] = mapped_column(Float, default=now)


class Destination(Base):
    """Delivery state per destination: exponential backoff and a lease so one worker sends at a time."""

    __tablename__ = "fed_destinations"

    state: Mapped[str] = mapped_column(String(8), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    retry_at: Mapped[float] = mapped_column(Float, default=0.0)
    lease_owner: Mapped[str | None] = mapped_column(String(40))
    lease_until: Mapped[float] = mapped_column(Float, default=0.0)
    last_error: Mapped[str | None] = mapped_column(Text)


class ReceivedTxn(Base):
    """Transactions applied from each origin (idempotency: a replay is acknowledged, not re-applied)."""

    __tablename__ = "fed_txns"

    origin: Mapped[str] = mapped_column(String(8), primary_key=True)
    txn_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    received_at: Mapped[float] = mapped_column(Float, default=now)
    pdus: Mapped[int] = mapped_column(Integer)


class ChatHost(Base):
    """Chats hosted (sequenced) by another state's node; this node keeps a replica for its members.

    Chats without a row are hosted here.
    """

    __tablename__ = "fed_chat_hosts"

    chat_id: Mapped[str] = mapped_column(ForeignKey("chats.id", ondelete="CASCADE"), primary_key=True)
    host_state: Mapped[str] = mapped_column(String(8))


OPS_PENDING = "msgfleet.federation.ops"  # session.info flag: run ``ops.run_pending`` after the commit


class PendingOp(Base):
    """A chat change a member state's node forwarded to this hosting node (``chat.op``), stored with the
    transaction that brought it and carried out right after by the core service, as its actor."""

    __tablename__ = "fed_pending_ops"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    origin: Mapped[str] = mapped_column(String(8))
    op: Mapped[str] = mapped_column(Text)  # JSON: {chat_id, actor, op, args}


class CallHost(Base):
    """Calls hosted by another state's node that ring users of this node (learnt from ``call.incoming``):
    their devices' answers and signals are forwarded there (``call.op``)."""

    __tablename__ = "fed_call_hosts"

    call_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    host_state: Mapped[str] = mapped_column(String(8))
    chat_id: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[float] = mapped_column(Float, default=now)
    meeting_id: Mapped[str | None] = mapped_column(String(40))
    ended_at: Mapped[float | None] = mapped_column(
        Float
    )  # when ``call.ended`` arrived: bounds ``call.usage``


class RemoteCallLeg(Base):
    """The call detail record of this node's user's leg in a call hosted in another state (``call.usage``):
    kept here, at the user's home node, which also meters it into ``call_usage``."""

    __tablename__ = "fed_call_legs"
    # One record per leg: a ``call.usage`` sent again (a retry or a replay) is not metered twice.
    __table_args__ = (UniqueConstraint("call_id", "device_id", "joined_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    call_id: Mapped[str] = mapped_column(String(40), index=True)
    host_state: Mapped[str] = mapped_column(String(8))
    user_id: Mapped[str] = mapped_column(String(64), index=True)
    device_id: Mapped[str] = mapped_column(String(40))
    media: Mapped[str] = mapped_column(String(8))
    joined_at: Mapped[float] = mapped_column(Float)
    left_at: Mapped[float] = mapped_column(Float)
    end_reason: Mapped[str | None] = mapped_column(String(16))
    seconds: Mapped[float] = mapped_column(Float)  # billable: from the answer (or join) to leaving


class MeetingHost(Base):
    """Meetings organized in another state that invite users of this node (learnt from
    ``meeting.invited``): their RSVPs are forwarded there (``meeting.op``)."""

    __tablename__ = "fed_meeting_hosts"

    meeting_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    host_state: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[float] = mapped_column(Float, default=now)
    view: Mapped[str | None] = mapped_column(Text)  # JSON: the meeting as its host last described it


class MeetingGuest(Base):
    """This node's users invited to a meeting hosted elsewhere (they list it and export its ``.ics``)."""

    __tablename__ = "fed_meeting_guests"

    meeting_id: Mapped[str] = mapped_column(
        ForeignKey("fed_meeting_hosts.meeting_id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)


class Counter(Base):
    """Short-lived counters shared by the node's workers (``messenger.federation.counters``): request
    nonces seen inside the signature skew window, prekey claims per origin and user, refusals per origin
    and reason. Rows are deleted once ``expires_at`` has passed."""

    __tablename__ = "fed_counters"
    __table_args__ = (Index("ix_fed_counters_expires_at", "expires_at"),)

    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    window_start: Mapped[float] = mapped_column(Float, primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[float] = mapped_column(Float)
