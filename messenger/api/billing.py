"""``/v1/tariffs``, ``/v1/tariff`` (subscription and pool members) and ``/v1/usage`` (usage and bill)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Response
from pydantic import Field

from messenger.api.deps import CurrentDevice, NodeDep, SessionDep
from messenger.api.schemas import Body
from messenger.billing import service
from messenger.billing.tariffs import node_tariffs
from messenger.calls.metering import period_of
from messenger.db.base import now

router = APIRouter(tags=["billing"])


class PlanIn(Body):
    plan: str = Field(min_length=1, max_length=40)


class PoolMemberIn(Body):
    user_id: str = Field(max_length=64)


@router.get("/v1/tariffs")
async def tariffs(node: NodeDep) -> dict[str, Any]:
    """The node's plans (from ``MSGFLEET_TARIFFS``); the first is the default for everyone."""
    policy = node_tariffs(node)
    return {
        "minute_rounding": policy.minute_rounding,
        "free_minutes_per_user_month": policy.free_minutes_per_user_month,
        "free_messages_per_user_month": policy.free_messages_per_user_month,
        "price_per_extra_minute": policy.price_per_extra_minute,
        "price_per_1000_messages": policy.price_per_1000_messages,
        "plans": [p.model_dump() for p in policy.plans],
    }


class InviteIn(Body):
    subscription_id: str = Field(max_length=40)


async def _view(session: SessionDep, pool: service.Pool, user_id: str) -> dict[str, Any]:
    """The pool, the invitations it has out (owner only) and the invitations waiting for ``user_id``."""
    pending = await service.pending_of(session, pool) if pool.owner == user_id else []
    return {
        **service.pool_view(pool),
        "pending": pending,
        "invitations": await service.invitations(session, user_id=user_id),
    }


@router.get("/v1/tariff")
async def my_tariff(session: SessionDep, node: NodeDep, device: CurrentDevice) -> dict[str, Any]:
    return await _view(
        session, await service.pool_of(session, node_tariffs(node), device.user_id), device.user_id
    )


@router.put("/v1/tariff")
async def choose_plan(
    body: PlanIn, session: SessionDep, node: NodeDep, device: CurrentDevice
) -> dict[str, Any]:
    pool = await service.subscribe(session, node_tariffs(node), user_id=device.user_id, plan_name=body.plan)
    return await _view(session, pool, device.user_id)


@router.post("/v1/tariff/members", status_code=202)
async def invite_pool_member(
    body: PoolMemberIn, session: SessionDep, node: NodeDep, device: CurrentDevice
) -> dict[str, Any]:
    """Invite a user to the caller's family/business pool; they join when they accept."""
    pool = await service.invite(
        session, node_tariffs(node), owner=device.user_id, user_id=body.user_id, state=node.settings.state
    )
    return await _view(session, pool, device.user_id)


@router.post("/v1/tariff/invitations/accept")
async def accept_invitation(
    body: InviteIn, session: SessionDep, node: NodeDep, device: CurrentDevice
) -> dict[str, Any]:
    pool = await service.accept(
        session, node_tariffs(node), user_id=device.user_id, subscription_id=body.subscription_id
    )
    return await _view(session, pool, device.user_id)


@router.post("/v1/tariff/invitations/decline", status_code=204)
async def decline_invitation(body: InviteIn, session: SessionDep, device: CurrentDevice) -> Response:
    await service.decline(session, user_id=device.user_id, subscription_id=body.subscription_id)
    return Response(status_code=204)


@router.delete("/v1/tariff/members/{user_id}", status_code=204)
async def remove_pool_member(
    user_id: str, session: SessionDep, node: NodeDep, device: CurrentDevice
) -> Response:
    """The owner removes a member; ``me`` (or your own id) leaves the pool."""
    target = device.user_id if user_id == "me" else user_id
    await service.remove_member(session, node_tariffs(node), actor=device.user_id, user_id=target)
    return Response(status_code=204)


@router.get("/v1/usage")
async def usage(
    session: SessionDep,
    node: NodeDep,
    device: CurrentDevice,
    period: str | None = Query(None, description="YYYY-MM (UTC); default the current month"),
) -> dict[str, Any]:
    """The caller's metered minutes and messages in ``period``, and their pool's bill.

    The pool's owner sees every member's usage; other members see their own and the pool's totals.
    """
    policy = node_tariffs(node)
    period = period or period_of(now())
    service.check_period(period)
    pool = await service.pool_of(session, policy, device.user_id)
    used = await service.usage(session, user_ids=pool.members, period=period)
    return {
        "period": period,
        "user_id": device.user_id,
        **used[device.user_id],
        "pool": service.pool_view(pool),
        "members": used if device.user_id == pool.owner else None,
        "bill": service.bill(policy, pool, used),
    }
