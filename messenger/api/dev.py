"""Development endpoints, off in production (404), outside the OpenAPI document:

- ``GET /v1/dev/sms/{phone}``: last code sent to a number (load tests); with ``dev_sms_endpoint``;
- ``GET /v1/dev/clock``, ``POST /v1/dev/clock {"advance_seconds": N}``: read or move on the node's
  clock (``messenger.clock``, every worker at once); with ``dev_clock``;
- ``POST /v1/dev/sweep/{calls|reminders|retention|events}``: run one pass of a background sweep now
  (call timeouts, meeting reminders, chat retention, device-event pruning) and answer when it is done;
  with ``dev_clock``. Tests advance the clock, then sweep, instead of sleeping until a timer fires.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from pydantic import Field

from messenger import clock
from messenger.api.deps import NodeDep
from messenger.api.schemas import Body, Out
from messenger.calls.sweep import sweep_once
from messenger.datarights import retention
from messenger.datarights.settings import load_retention_settings
from messenger.errors import NotFound
from messenger.meetings.service import send_due_reminders
from messenger.node import Node
from messenger.realtime.retention import prune_once
from messenger.sms import last_code

router = APIRouter(prefix="/v1/dev", tags=["dev"], include_in_schema=False)


@router.get("/sms/{phone}")
async def last_sms(phone: str, node: NodeDep) -> dict[str, str]:
    if not node.settings.dev_sms_endpoint:
        raise NotFound("not found", code="not_found")
    code = last_code(node.settings.sms_path, phone)
    if code is None:
        raise NotFound(f"no code was sent to {phone}", code="no_code")
    return {"phone": phone, "code": code}


class ClockIn(Body):
    advance_seconds: float = Field(ge=0, le=100 * 365 * 86400, description="move the clock on by this")


class ClockOut(Out):
    now: float = Field(description="the node's time, UNIX seconds")
    offset_seconds: float = Field(description="how far the node's clock runs ahead of the wall clock")


def _dev_clock(node: Node) -> None:
    if not node.settings.dev_clock:
        raise NotFound("not found", code="not_found")


@router.get("/clock")
async def read_clock(node: NodeDep) -> ClockOut:
    _dev_clock(node)
    return ClockOut(now=clock.now(), offset_seconds=clock.offset())


@router.post("/clock")
async def advance_clock(body: ClockIn, node: NodeDep) -> ClockOut:
    _dev_clock(node)
    clock.advance(body.advance_seconds)
    return ClockOut(now=clock.now(), offset_seconds=clock.offset())


@router.post("/sweep/{kind}")
async def sweep(kind: Literal["calls", "reminders", "retention", "events"], node: NodeDep) -> dict[str, Any]:
    """One pass of the sweep, run to completion in this request; the counts it reports."""
    _dev_clock(node)
    if kind == "calls":
        return {"sweep": kind, "calls_changed": await sweep_once(node)}
    if kind == "reminders":
        async with node.sessions() as session:
            return {"sweep": kind, "reminders_sent": await send_due_reminders(session)}
    if kind == "events":
        return {"sweep": kind, "events_removed": await prune_once(node)}
    rules = load_retention_settings().active()
    report = await retention.sweep(node.sessions, node.features["media"], rules, at=clock.now(), wait=True)
    return {
        "sweep": kind,
        "messages": report.messages,
        "posts": report.posts,
        "shares": report.shares,
        "media": report.media,
    }
