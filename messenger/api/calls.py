"""``/v1/calls``: start, ring, accept/join, decline, leave, hang up, heartbeat, signal, TURN, records.

``startup`` runs the timeout sweep (``messenger.calls.sweep``) in every worker.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import Field
from sqlalchemy import select

from messenger.api.deps import ChatMember, CurrentDevice, NodeDep, SessionDep
from messenger.api.schemas import Body, Out
from messenger.billing.service import node_tariffs
from messenger.calls import records, service, signalling, turn
from messenger.calls.metrics import CALL_SIGNALS
from messenger.calls.peers import peers_of
from messenger.calls.sweep import run_sweeper
from messenger.db.base import now
from messenger.db.models.calls import Call
from messenger.errors import Conflict
from messenger.node import Node

router = APIRouter(tags=["calls"])
FORWARDED: dict[int | str, dict[str, Any]] = {
    202: {"description": "the call is hosted in another state: forwarded there; the outcome comes as events"}
}


class CallIn(Body):
    chat_id: str = Field(max_length=40)
    media: Literal["audio", "video"] = "audio"
    invitees: list[str] | None = Field(None, max_length=1000, description="default: every other member")


class SignalIn(Body):
    data: dict[str, Any]
    to_user: str | None = Field(None, max_length=64)
    to_device: str | None = Field(None, max_length=40)


class LegOut(Out):
    device_id: str
    joined_at: float
    left_at: float | None
    end_reason: str | None


class ParticipantOut(Out):
    user_id: str
    status: str = Field(description="joined | invited | ringing | declined | left | missed")
    seconds: float = Field(description="metered seconds: from the answer (or join) to leaving, over all legs")
    legs: list[LegOut]


class CallRecordOut(Out):
    """The call detail record."""

    id: str
    chat_id: str | None
    meeting_id: str | None
    kind: Literal["direct", "group"]
    media: Literal["audio", "video"]
    created_by: str
    state: Literal["ringing", "active", "ended"]
    started_at: float
    answered_at: float | None
    ended_at: float | None
    end_reason: str | None = Field(description="hangup | declined | missed | cancelled | timeout")
    duration: float | None
    participants: list[ParticipantOut]


class TurnOut(Out):
    username: str = Field(description="<expiry unix time>:<user_id>")
    password: str = Field(description="base64(HMAC-SHA1(turn secret, username))")
    ttl: int
    expires_at: int
    uris: list[str]


async def call_record(session: SessionDep, call: Call) -> CallRecordOut:
    return CallRecordOut.model_validate(await records.record(session, call))


@router.post("/v1/calls", status_code=201)
async def start_call(body: CallIn, session: SessionDep, device: CurrentDevice) -> CallRecordOut:
    """Ring the chat's other members (or ``invitees``); the caller's device is connected at once."""
    call = await service.start_call(
        session, device=device, media=body.media, chat_id=body.chat_id, invitees=body.invitees
    )
    return await call_record(session, call)


@router.get("/v1/calls/{call_id}")
async def get_call(call_id: str, session: SessionDep, device: CurrentDevice) -> CallRecordOut:
    """The call detail record (participants only)."""
    return await call_record(session, await service.find_call(session, call_id, device.user_id))


async def _forwarded(
    session: SessionDep, call_id: str, device: CurrentDevice, op: str, **args: Any
) -> JSONResponse | None:
    """For a call hosted in another state: forward ``op`` to its hosting node and answer 202 (the outcome
    arrives as ``call.*`` events); ``None`` for a call hosted here."""
    peers = peers_of(session)
    if peers is None or not await peers.forward(session, call_id=call_id, device=device, op=op, args=args):
        return None
    return JSONResponse({"call_id": call_id, "op": op, "forwarded": True}, status_code=202)


async def _metered(
    op: str, action: Any, call_id: str, session: SessionDep, node: NodeDep, device: CurrentDevice
) -> Any:
    """Run a metered step (``action``: a service function taking the tariff's rounding) on a call hosted
    here, or forward ``op`` to the call's hosting node (202); answer the call record."""
    if (forwarded := await _forwarded(session, call_id, device, op)) is not None:
        return forwarded
    rounding = node_tariffs(node).minute_rounding
    call = await action(session, call_id=call_id, device=device, rounding=rounding)
    return await call_record(session, call)


@router.post("/v1/calls/{call_id}/ring", response_model=CallRecordOut, responses=FORWARDED)
async def ring(call_id: str, session: SessionDep, device: CurrentDevice) -> Any:
    if (forwarded := await _forwarded(session, call_id, device, "ring")) is not None:
        return forwarded
    return await call_record(session, await service.ring(session, call_id=call_id, device=device))


@router.post("/v1/calls/{call_id}/accept", response_model=CallRecordOut, responses=FORWARDED)
@router.post("/v1/calls/{call_id}/join", response_model=CallRecordOut, responses=FORWARDED)
async def join(call_id: str, session: SessionDep, node: NodeDep, device: CurrentDevice) -> Any:
    """Answer a ringing call or join a running group call with this device."""
    return await _metered("join", service.join, call_id, session, node, device)


@router.post("/v1/calls/{call_id}/decline", response_model=CallRecordOut, responses=FORWARDED)
async def decline(call_id: str, session: SessionDep, node: NodeDep, device: CurrentDevice) -> Any:
    return await _metered("decline", service.decline, call_id, session, node, device)


@router.post("/v1/calls/{call_id}/leave", response_model=CallRecordOut, responses=FORWARDED)
async def leave(call_id: str, session: SessionDep, node: NodeDep, device: CurrentDevice) -> Any:
    return await _metered("leave", service.leave, call_id, session, node, device)


@router.post("/v1/calls/{call_id}/hangup", response_model=CallRecordOut, responses=FORWARDED)
async def hangup(call_id: str, session: SessionDep, node: NodeDep, device: CurrentDevice) -> Any:
    return await _metered("hangup", service.hangup, call_id, session, node, device)


@router.post("/v1/calls/{call_id}/heartbeat", responses=FORWARDED)
async def heartbeat(call_id: str, session: SessionDep, device: CurrentDevice) -> Any:
    """Keep this device's leg alive (also sent as a ``call.heartbeat`` WebSocket frame)."""
    if (forwarded := await _forwarded(session, call_id, device, "heartbeat")) is not None:
        return forwarded
    await service.find_call(session, call_id, device.user_id)
    return {"legs": await service.heartbeat(session, call_id=call_id, device=device)}


@router.post("/v1/calls/{call_id}/signal", responses=FORWARDED)
async def signal(call_id: str, body: SignalIn, session: SessionDep, device: CurrentDevice) -> Any:
    """Relay SDP/ICE ``data`` (the WebSocket ``call.signal`` frame does the same)."""
    signalling.check_data(body.data)
    to = {"to_user": body.to_user, "to_device": body.to_device}
    if (forwarded := await _forwarded(session, call_id, device, "signal", data=body.data, **to)) is not None:
        return forwarded
    delivered = await signalling.relay(
        session,
        call_id=call_id,
        device=device,
        data=body.data,
        to_user=body.to_user,
        to_device=body.to_device,
    )
    CALL_SIGNALS.labels("http").inc()
    return {"delivered": delivered}


@router.get("/v1/calls/{call_id}/turn")
async def turn_credentials(
    call_id: str, session: SessionDep, node: NodeDep, device: CurrentDevice
) -> TurnOut:
    """Time-limited TURN credentials for a participant of a call that has not ended. Each user gets them
    from their home node (its state's coturn), also for a call hosted in another state."""
    peers = peers_of(session)
    if peers is None or not await peers.rang_here(session, call_id=call_id, user_id=device.user_id):
        call = await service.find_call(session, call_id, device.user_id)
        if call.state == "ended":
            raise Conflict(f"call {call.id} has ended", code="call_ended")
    settings = node.settings
    creds = turn.issue(
        turn.turn_secret(settings.turn_secret, node.secret),
        user=device.user_id,
        now=now(),
        ttl=settings.turn_ttl_seconds,
        uris=[u.strip() for u in settings.turn_uris.split(",") if u.strip()],
    )
    return TurnOut(
        username=creds.username,
        password=creds.password,
        ttl=creds.ttl,
        expires_at=creds.expires_at,
        uris=creds.uris,
    )


@router.get("/v1/chats/{chat_id}/calls")
async def chat_calls(member: ChatMember, session: SessionDep, limit: int = 50) -> list[CallRecordOut]:
    """The chat's call records, newest first (members only)."""
    limit = max(1, min(limit, 200))
    calls = await session.scalars(
        select(Call).where(Call.chat_id == member.chat_id).order_by(Call.created_at.desc()).limit(limit)
    )
    return [await call_record(session, call) for call in calls.all()]


async def startup(node: Node) -> None:
    node.features["calls.sweeper"] = asyncio.create_task(run_sweeper(node), name="call-sweeper")


async def shutdown(node: Node) -> None:
    task = node.features.pop("calls.sweeper", None)
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
