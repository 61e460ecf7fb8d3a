"""Tariff subscriptions: a user's plan; family/business plans share one pool between members who accepted."""

from __future__ import annotations

from sqlalchemy import Float, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from messenger.db.base import Base, now


class Subscription(Base):
    __tablename__ = "subscriptions"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # s<hex>
    plan: Mapped[str] = mapped_column(String(40))  # a plan name of MSGFLEET_TARIFFS
    owner_id: Mapped[str] = mapped_column(String(64))  # pays the bill
    created_at: Mapped[float] = mapped_column(Float, default=now)


class SubscriptionMember(Base):
    __tablename__ = "subscription_members"

    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)  # one subscription per user
    subscription_id: Mapped[str] = mapped_column(
        ForeignKey("subscriptions.id", ondelete="CASCADE"), index=True
    )
    added_at: Mapped[float] = mapped_column(Float, default=now)


class SubscriptionInvite(Base):
    """An owner's offer to share their pool; the user's usage joins the pool only once they accept."""

    __tablename__ = "subscription_invites"

    subscription_id: Mapped[str] = mapped_column(
        ForeignKey("subscriptions.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)
    created_at: Mapped[float] = mapped_column(Float, default=now)


class MessageTally(Base):
    """Messages a user sent in a billing period whose rows were deleted since (a federated chat replica
    that went with its last local member); bills add these to the rows still in ``messages``."""

    __tablename__ = "message_tallies"

    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    period: Mapped[str] = mapped_column(String(7), primary_key=True)  # YYYY-MM, UTC
    messages: Mapped[int] = mapped_column(Integer, default=0)
