"""``/v1/tariffs``, ``/v1/tariff`` (subscription and pool members) and ``/v1/usage`` (usage and bill)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query, Response
from pydantic import Field

from messenger.api.deps import CurrentDevice, NodeDep, SessionDep
from messenger.api.schemas import Body, Out
from messenger.billing import service
from messenger.billing.service import node_tariffs
from messenger.calls.metering import period_of
from messenger.db.base import now

router = APIRouter(tags=["billing"])


class PlanIn(Body):
    plan: str = Field(min_length=1, max_length=40)


class PoolMemberIn(Body):
    user_id: str = Field(max_length=64)


class InviteIn(Body):
    subscription_id: str = Field(max_length=40)


class PlanOut(Out):
    name: str
    kind: Literal["individual", "family", "business"]
    max_members: int
    monthly_fee: float
    included_minutes: float | None
    included_messages: float | None
    price_per_extra_minute: float | None
    price_per_1000_messages: float | None


class TariffsOut(Out):
    minute_rounding: Literal["per_second", "per_minute_up"]
    free_minutes_per_user_month: float
    free_messages_per_user_month: float
    price_per_extra_minute: float | None
    price_per_1000_messages: float | None
    plans: list[PlanOut]


class InvitationOut(Out):
    subscription_id: str
    owner: str
    plan: str


class PoolBaseOut(Out):
    subscription_id: str | None = Field(description="None: not subscribed, billed by the default plan")
    plan: str
    kind: str
    owner: str
    members: list[str]
    max_members: int


class PoolOut(PoolBaseOut):
    pending: list[str] = Field(description="users invited to this pool (shown to its owner)")
    invitations: list[InvitationOut] = Field(description="pools inviting the caller")


class UseOut(Out):
    minutes: float
    seconds: float
    calls: int
    messages: int


class BillOut(Out):
    """Money as decimal strings rounded half-up to 0.01; charges are None while a price is unset."""

    plan: str
    minute_rounding: str
    included_minutes: float
    included_messages: float
    used_minutes: float
    used_messages: int
    extra_minutes: float
    extra_messages: int
    price_per_extra_minute: float | None
    price_per_1000_messages: float | None
    monthly_fee: str
    minutes_charge: str | None
    messages_charge: str | None
    total: str | None
    priced: bool


class UsageOut(UseOut):
    period: str
    user_id: str
    pool: PoolBaseOut
    members: dict[str, UseOut] | None = Field(description="per-member use, for the pool's owner only")
    bill: BillOut


@router.get("/v1/tariffs")
async def tariffs(node: NodeDep) -> TariffsOut:
    """The node's plans (from ``MSGFLEET_TARIFFS``); the first is the default for everyone."""
    return TariffsOut.model_validate(node_tariffs(node).model_dump(exclude={"margin", "plan_mix"}))


async def _view(session: SessionDep, pool: service.Pool, user_id: str) -> PoolOut:
    """The pool, the invitations it has out (owner only) and the invitations waiting for ``user_id``."""
    pending = await service.pending_of(session, pool) if pool.owner == user_id else []
    return PoolOut.model_validate(
        {
            **service.pool_view(pool),
            "pending": pending,
            "invitations": await service.invitations(session, user_id=user_id),
        }
    )


@router.get("/v1/tariff")
async def my_tariff(session: SessionDep, node: NodeDep, device: CurrentDevice) -> PoolOut:
    return await _view(
        session, await service.pool_of(session, node_tariffs(node), device.user_id), device.user_id
    )


@router.put("/v1/tariff")
async def choose_plan(body: PlanIn, session: SessionDep, node: NodeDep, device: CurrentDevice) -> PoolOut:
    pool = await service.subscribe(session, node_tariffs(node), user_id=device.user_id, plan_name=body.plan)
    return await _view(session, pool, device.user_id)


@router.post("/v1/tariff/members", status_code=202)
async def invite_pool_member(
    body: PoolMemberIn, session: SessionDep, node: NodeDep, device: CurrentDevice
) -> PoolOut:
    """Invite a user to the caller's family/business pool; they join when they accept."""
    pool = await service.invite(
        session, node_tariffs(node), owner=device.user_id, user_id=body.user_id, state=node.settings.state
    )
    return await _view(session, pool, device.user_id)


@router.post("/v1/tariff/invitations/accept")
async def accept_invitation(
    body: InviteIn, session: SessionDep, node: NodeDep, device: CurrentDevice
) -> PoolOut:
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
) -> UsageOut:
    """The caller's metered minutes and messages in ``period``, and their pool's bill.

    The pool's owner sees every member's usage; other members see their own and the pool's totals.
    """
    policy = node_tariffs(node)
    period = period or period_of(now())
    service.check_period(period)
    pool = await service.pool_of(session, policy, device.user_id)
    used = await service.usage(session, user_ids=pool.members, period=period)
    return UsageOut.model_validate(
        {
            "period": period,
            "user_id": device.user_id,
            **used[device.user_id],
            "pool": service.pool_view(pool),
            "members": used if device.user_id == pool.owner else None,
            "bill": service.bill(policy, pool, used),
        }
    )
