"""Subscriptions (pooled for family/business plans), a user's usage in a period, and the period's bill.

Minutes come from the metered ``call_usage`` (already rounded per call leg as the policy says);
messages are the messages the pool's members sent in the period (counted from ``messages``).
Money is computed in ``Decimal`` and each line is rounded half-up to 0.01 of the plan's currency.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from messenger.billing.tariffs import TariffPlan, TariffPolicy, parse_tariffs
from messenger.calls.metering import period_bounds
from messenger.db.models import Message
from messenger.db.models.billing import MessageTally, Subscription, SubscriptionInvite, SubscriptionMember
from messenger.db.models.calls import CallUsage
from messenger.errors import BadRequest, Conflict, Forbidden, NotFound
from messenger.node import Node
from messenger.realtime.events import emit_to_users
from messenger.services.chats import check_users
from messenger.services.ids import new_id


def node_tariffs(node: Node) -> TariffPolicy:
    """The node's policy, parsed once from its settings (kept in ``node.features["tariffs"]``)."""
    policy = node.features.get("tariffs")
    if not isinstance(policy, TariffPolicy):
        policy = node.features["tariffs"] = parse_tariffs(node.settings.tariffs)
    return policy


PERIOD = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
CENT = Decimal("0.01")


def check_period(period: str) -> tuple[float, float]:
    if not PERIOD.fullmatch(period):
        raise BadRequest(f"period {period!r} is not a month like 2026-11", code="invalid_period")
    return period_bounds(period)


@dataclass(frozen=True)
class Pool:
    """Who shares an allowance: a subscription's members (or one unsubscribed user on the default plan)."""

    subscription_id: str | None
    plan: TariffPlan
    owner: str
    members: list[str]


async def pool_of(session: AsyncSession, policy: TariffPolicy, user_id: str) -> Pool:
    sub_id = await session.scalar(
        select(SubscriptionMember.subscription_id).where(SubscriptionMember.user_id == user_id)
    )
    if sub_id is None:
        return Pool(None, policy.default_plan, user_id, [user_id])
    sub = await session.get(Subscription, sub_id)
    assert sub is not None
    members = list(
        await session.scalars(
            select(SubscriptionMember.user_id)
            .where(SubscriptionMember.subscription_id == sub_id)
            .order_by(SubscriptionMember.added_at, SubscriptionMember.user_id)
        )
    )
    return Pool(sub.id, policy.plan(sub.plan) or policy.default_plan, sub.owner_id, members)


def pool_view(pool: Pool) -> dict[str, Any]:
    return {
        "subscription_id": pool.subscription_id,
        "plan": pool.plan.name,
        "kind": pool.plan.kind,
        "owner": pool.owner,
        "members": pool.members,
        "max_members": pool.plan.max_members,
    }


async def subscribe(session: AsyncSession, policy: TariffPolicy, *, user_id: str, plan_name: str) -> Pool:
    """Put the caller (and their pool, if they own one) on ``plan_name``."""
    plan = policy.plan(plan_name)
    if plan is None:
        names = ", ".join(p.name for p in policy.plans)
        raise NotFound(f"no tariff plan {plan_name!r} (plans: {names})", code="plan_not_found")
    pool = await pool_of(session, policy, user_id)
    if pool.subscription_id is not None and pool.owner != user_id:
        raise Conflict(f"you are in {pool.owner}'s {pool.plan.name} pool; leave it first", code="in_pool")
    if len(pool.members) > plan.max_members:
        raise Conflict(
            f"plan {plan.name} allows {plan.max_members} members, the pool has {len(pool.members)}",
            code="too_many_members",
        )
    if pool.subscription_id is None:
        sub = Subscription(id=new_id("s"), plan=plan.name, owner_id=user_id)
        session.add(sub)
        await session.flush()
        session.add(SubscriptionMember(user_id=user_id, subscription_id=sub.id))
    else:
        sub_row = await session.get(Subscription, pool.subscription_id)
        assert sub_row is not None
        sub_row.plan = plan.name
    await session.commit()
    return await pool_of(session, policy, user_id)


async def invite(
    session: AsyncSession, policy: TariffPolicy, *, owner: str, user_id: str, state: str
) -> Pool:
    """The owner of a family/business plan invites a user of this node (``tariff.invited`` to their devices).

    The user's usage joins the pool (and becomes visible to the owner) only when they accept.
    """
    pool = await pool_of(session, policy, owner)
    if pool.subscription_id is None or pool.owner != owner or not pool.plan.pooled:
        raise Forbidden("only the owner of a family or business plan invites members", code="not_allowed")
    await check_users(session, user_ids=[user_id], state=state)
    if user_id in pool.members:
        raise Conflict(f"{user_id} is already in the pool", code="already_member")
    pending = await _pending(session, pool.subscription_id)
    if user_id not in pending:
        if len(pool.members) + len(pending) >= pool.plan.max_members:
            raise Conflict(f"plan {pool.plan.name} allows {pool.plan.max_members} members", code="pool_full")
        session.add(SubscriptionInvite(subscription_id=pool.subscription_id, user_id=user_id))
        offer = {"subscription_id": pool.subscription_id, "owner": owner, "plan": pool.plan.name}
        await emit_to_users(session, user_ids=[user_id], kind="tariff.invited", payload=offer)
    await session.commit()
    return await pool_of(session, policy, owner)


async def accept(session: AsyncSession, policy: TariffPolicy, *, user_id: str, subscription_id: str) -> Pool:
    """Join the pool that invited ``user_id``; their own individual subscription, if any, ends."""
    offer = await session.get(SubscriptionInvite, (subscription_id, user_id))
    if offer is None:
        raise NotFound(f"no invitation to pool {subscription_id}", code="invite_not_found")
    sub = await session.get(Subscription, subscription_id)
    assert sub is not None
    pool = await pool_of(session, policy, sub.owner_id)
    if len(pool.members) >= pool.plan.max_members:
        raise Conflict(f"plan {pool.plan.name} allows {pool.plan.max_members} members", code="pool_full")
    theirs = await pool_of(session, policy, user_id)
    if theirs.subscription_id is not None and (theirs.owner != user_id or len(theirs.members) > 1):
        raise Conflict("you are in another pool; leave it first", code="in_pool")
    if theirs.subscription_id is not None:
        await session.execute(delete(Subscription).where(Subscription.id == theirs.subscription_id))
        await session.execute(delete(SubscriptionMember).where(SubscriptionMember.user_id == user_id))
    await session.delete(offer)
    session.add(SubscriptionMember(user_id=user_id, subscription_id=subscription_id))
    joined = {"subscription_id": subscription_id, "user_id": user_id}
    await emit_to_users(session, user_ids=[sub.owner_id], kind="tariff.joined", payload=joined)
    await session.commit()
    return await pool_of(session, policy, user_id)


async def decline(session: AsyncSession, *, user_id: str, subscription_id: str) -> None:
    offer = await session.get(SubscriptionInvite, (subscription_id, user_id))
    if offer is None:
        raise NotFound(f"no invitation to pool {subscription_id}", code="invite_not_found")
    await session.delete(offer)
    await session.commit()


async def _pending(session: AsyncSession, subscription_id: str) -> list[str]:
    rows = await session.scalars(
        select(SubscriptionInvite.user_id)
        .where(SubscriptionInvite.subscription_id == subscription_id)
        .order_by(SubscriptionInvite.user_id)
    )
    return list(rows)


async def invitations(session: AsyncSession, *, user_id: str) -> list[dict[str, str]]:
    """Pools that invited ``user_id`` and wait for an answer."""
    rows = await session.execute(
        select(Subscription.id, Subscription.owner_id, Subscription.plan)
        .join(SubscriptionInvite, SubscriptionInvite.subscription_id == Subscription.id)
        .where(SubscriptionInvite.user_id == user_id)
        .order_by(Subscription.id)
    )
    return [{"subscription_id": s, "owner": o, "plan": p} for s, o, p in rows.all()]


async def pending_of(session: AsyncSession, pool: Pool) -> list[str]:
    return [] if pool.subscription_id is None else await _pending(session, pool.subscription_id)


async def remove_member(session: AsyncSession, policy: TariffPolicy, *, actor: str, user_id: str) -> None:
    """The owner removes a member, or a member leaves (the owner cannot leave their own pool)."""
    pool = await pool_of(session, policy, user_id)
    if pool.subscription_id is None or user_id not in pool.members:
        raise NotFound(f"{user_id} is not in a pool", code="member_not_found")
    if actor not in (pool.owner, user_id):
        raise NotFound(f"{user_id} is not in your pool", code="member_not_found")
    if user_id == pool.owner:
        raise Conflict(
            "the owner pays for the pool; change the plan instead of leaving", code="owner_cannot_leave"
        )
    await session.execute(delete(SubscriptionMember).where(SubscriptionMember.user_id == user_id))
    await session.commit()


async def usage(session: AsyncSession, *, user_ids: list[str], period: str) -> dict[str, dict[str, float]]:
    """Per user: metered call ``minutes``/``seconds``/``calls`` and ``messages`` sent in ``period``."""
    start, end = check_period(period)
    out = {u: {"minutes": 0.0, "seconds": 0.0, "calls": 0, "messages": 0} for u in user_ids}
    rows = await session.execute(
        select(CallUsage.user_id, CallUsage.minutes, CallUsage.seconds, CallUsage.calls).where(
            CallUsage.user_id.in_(user_ids), CallUsage.period == period
        )
    )
    for user_id, minutes, seconds, calls in rows.all():
        out[user_id].update(minutes=minutes, seconds=round(seconds, 3), calls=calls)
    counts = await session.execute(
        select(Message.sender_user_id, func.count())
        .where(Message.sender_user_id.in_(user_ids), Message.created_at >= start, Message.created_at < end)
        .group_by(Message.sender_user_id)
    )
    for user_id, count in counts.all():
        out[user_id]["messages"] = int(count)
    tallies = await session.execute(  # counts of rows deleted since (messenger.billing.tally)
        select(MessageTally.user_id, MessageTally.messages).where(
            MessageTally.user_id.in_(user_ids), MessageTally.period == period
        )
    )
    for user_id, count in tallies.all():
        out[user_id]["messages"] += int(count)
    return out


def _money(value: Decimal) -> str:
    return str(value.quantize(CENT, rounding=ROUND_HALF_UP))


def _charge(extra: Decimal, unit_price: float | None, per: int) -> str | None:
    """``extra × price / per`` as money; None when there is extra use but no price set yet."""
    if extra <= 0:
        return _money(Decimal(0))
    return None if unit_price is None else _money(extra * Decimal(str(unit_price)) / per)


def bill(policy: TariffPolicy, pool: Pool, used: dict[str, dict[str, float]]) -> dict[str, Any]:
    """The pool's bill for one period from its members' usage."""
    plan, n = pool.plan, len(pool.members)
    inc_min = (
        plan.included_minutes if plan.included_minutes is not None else policy.free_minutes_per_user_month * n
    )
    inc_msg = (
        plan.included_messages
        if plan.included_messages is not None
        else policy.free_messages_per_user_month * n
    )
    minutes = sum(Decimal(str(u["minutes"])) for u in used.values())
    messages = sum(Decimal(int(u["messages"])) for u in used.values())
    extra_min = max(Decimal(0), minutes - Decimal(str(inc_min)))
    extra_msg = max(Decimal(0), messages - Decimal(str(inc_msg)))
    price_min = (
        plan.price_per_extra_minute
        if plan.price_per_extra_minute is not None
        else policy.price_per_extra_minute
    )
    price_msg = (
        plan.price_per_1000_messages
        if plan.price_per_1000_messages is not None
        else policy.price_per_1000_messages
    )
    fee = _money(Decimal(str(plan.monthly_fee)))
    minutes_charge, messages_charge = _charge(extra_min, price_min, 1), _charge(extra_msg, price_msg, 1000)
    parts = [fee, minutes_charge, messages_charge]
    total = None if None in parts else _money(sum((Decimal(p) for p in parts if p is not None), Decimal(0)))
    return {
        "plan": plan.name,
        "minute_rounding": policy.minute_rounding,
        "included_minutes": inc_min,
        "included_messages": inc_msg,
        "used_minutes": float(minutes),
        "used_messages": int(messages),
        "extra_minutes": float(extra_min),
        "extra_messages": int(extra_msg),
        "price_per_extra_minute": price_min,
        "price_per_1000_messages": price_msg,
        "monthly_fee": fee,
        "minutes_charge": minutes_charge,
        "messages_charge": messages_charge,
        "total": total,
        "priced": total is not None,
    }
