"""Data rights of tariff pools: the user's subscription, pool membership and invitations.

Erase: a pool the user owns (and pays for) ends — its other members fall back to the default plan
(``plans[0]``) and its pending invitations lapse; their membership of another's pool and invitations to
them go, and so do their message tallies (``messenger.billing.tally``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import delete, select

from messenger.datarights.registry import Context, Provider
from messenger.db.models.billing import MessageTally, Subscription, SubscriptionInvite, SubscriptionMember


async def export(ctx: Context) -> Mapping[str, Any]:
    session, user_id = ctx.session, ctx.subject.user_id
    member = await session.get(SubscriptionMember, user_id)
    sub = None if member is None else await session.get(Subscription, member.subscription_id)
    invites = await session.scalars(
        select(SubscriptionInvite)
        .where(SubscriptionInvite.user_id == user_id)
        .order_by(SubscriptionInvite.created_at)
    )
    tallies = await session.scalars(
        select(MessageTally).where(MessageTally.user_id == user_id).order_by(MessageTally.period)
    )
    return {
        "message_tallies": [{"period": t.period, "messages": t.messages} for t in tallies],
        "tariff": None
        if sub is None or member is None
        else {
            "subscription_id": sub.id,
            "plan": sub.plan,
            "owner": sub.owner_id,
            "created_at": sub.created_at,
            "joined_at": member.added_at,
        },
        "tariff_invitations": [
            {"subscription_id": i.subscription_id, "created_at": i.created_at} for i in invites
        ],
    }


async def erase(ctx: Context) -> Mapping[str, int]:
    session, user_id = ctx.session, ctx.subject.user_id
    owned = await session.execute(delete(Subscription).where(Subscription.owner_id == user_id))  # cascades
    await session.execute(delete(SubscriptionMember).where(SubscriptionMember.user_id == user_id))
    await session.execute(delete(SubscriptionInvite).where(SubscriptionInvite.user_id == user_id))
    await session.execute(delete(MessageTally).where(MessageTally.user_id == user_id))
    return {"pools_ended": owned.rowcount or 0}  # type: ignore[attr-defined]


PROVIDER = Provider(
    name="billing",
    covers={
        "subscriptions": ("owner_id",),
        "subscription_members": ("user_id",),
        "subscription_invites": ("user_id",),
        "message_tallies": ("user_id",),
    },
    export=export,
    erase=erase,
)
