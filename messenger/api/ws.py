"""``WS /v1/ws``: push a device's events in order; resume exactly with the last cursor (docs/API.md).

Authentication: a first frame ``{"type": "auth", "token": ..., "cursor": n}``, or ``Authorization:
Bearer`` at the handshake (clients that can set headers). Never a token in the URL: URLs end up in
logs (uvicorn's, proxies'), so ``?token=`` is refused with 4400. Close code 4401: bad token or device
revoked.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from messenger.api.deps import device_for_token
from messenger.errors import Unauthorized
from messenger.metrics import DELIVERIES, SOCKETS
from messenger.node import Node
from messenger.realtime.events import read_events
from messenger.realtime.hub import Waiter
from messenger.realtime.retention import has_gap

router = APIRouter(tags=["realtime"])

UNAUTHORIZED, BAD_FRAME = 4401, 4400
AUTH_TIMEOUT = 10.0  # seconds to wait for the auth frame
BATCH = 500
# Client frames other features handle: type prefix -> "module:function", awaited as
# ``function(node, device_id, frame) -> reply frame`` (e.g. call signalling, docs/API.md "Calls").
FRAME_HANDLERS: dict[str, str] = {
    "call.": "messenger.calls.signalling:on_frame",
    "message.": "messenger.api.messages:on_frame",
}


def _int(value: Any) -> int | None:
    if value is None:
        return None
    number = int(value)
    if number < 0:
        raise ValueError("cursor must be >= 0")
    return number


async def _credentials(websocket: WebSocket) -> tuple[str, int | None]:
    """Token and resume cursor; ``ValueError`` (a 4400 close) for anything but the documented forms."""
    if "token" in websocket.query_params:
        raise ValueError("token in the URL refused; send it in the first frame")
    cursor = _int(websocket.query_params.get("cursor"))
    scheme, _, token = websocket.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip(), cursor
    message = await asyncio.wait_for(websocket.receive(), AUTH_TIMEOUT)
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000))
    if message.get("text") is None:
        raise ValueError("the auth frame must be a text frame")
    frame = json.loads(message["text"])
    if not isinstance(frame, dict) or frame.get("type") != "auth" or not isinstance(frame.get("token"), str):
        raise ValueError('first frame must be {"type": "auth", "token": "..."}')
    return frame["token"], _int(frame.get("cursor", cursor))


def _frame_handler(kind: object) -> Callable[[Node, str, dict[str, Any]], Awaitable[dict[str, Any]]] | None:
    for prefix, target in FRAME_HANDLERS.items():
        if isinstance(kind, str) and kind.startswith(prefix):
            module, _, name = target.partition(":")
            return getattr(importlib.import_module(module), name)
    return None


async def _read_client(
    websocket: WebSocket, waiter: Waiter, closed: asyncio.Event, node: Node, device_id: str
) -> None:
    """Answer pings and feature frames; on disconnect wake the sender loop so it ends."""
    try:
        while True:
            text = await websocket.receive_text()
            with contextlib.suppress(ValueError):
                frame = json.loads(text)
                if not isinstance(frame, dict):
                    continue
                if frame.get("type") == "ping":
                    await websocket.send_text('{"type": "pong"}')
                elif (handler := _frame_handler(frame.get("type"))) is not None:
                    await websocket.send_text(json.dumps(await handler(node, device_id, frame)))
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        closed.set()
        waiter.ready.set()


@router.websocket("/v1/ws")
async def websocket_endpoint(websocket: WebSocket) -> None:
    node: Node = websocket.app.state.node
    await websocket.accept()
    try:
        token, cursor = await _credentials(websocket)
    except (ValueError, TypeError, RecursionError, TimeoutError) as exc:
        await websocket.close(BAD_FRAME, str(exc)[:120] if isinstance(exc, ValueError) else "bad auth frame")
        return
    except WebSocketDisconnect:
        return
    async with node.sessions() as session:
        try:
            device = await device_for_token(session, token)
        except Unauthorized:
            await websocket.close(UNAUTHORIZED, "invalid token")
            return
        device_id, user_id, head = device.id, device.user_id, device.event_seq
        position = head if cursor is None else cursor
        gap = await has_gap(session, device_id=device_id, cursor=position, head=head)
    SOCKETS.inc()
    try:
        async with node.hub.listen(device_id) as waiter:
            await websocket.send_text(
                json.dumps(
                    {
                        "type": "ready",
                        "device_id": device_id,
                        "user_id": user_id,
                        "cursor": position,
                        "head": head,
                        "gap": gap,
                    }
                )
            )
            closed = asyncio.Event()
            reader = asyncio.create_task(_read_client(websocket, waiter, closed, node, device_id))
            try:
                await _pump(websocket, node, waiter, closed, device_id, position)
            finally:
                reader.cancel()
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        SOCKETS.dec()


async def _pump(
    websocket: WebSocket, node: Node, waiter: Waiter, closed: asyncio.Event, device_id: str, position: int
) -> None:
    """Send every event after ``position`` as it appears, until the client leaves or the device is revoked.

    Frames pushed by the hub are sent while their cursors follow on exactly; anything else (a gap, a plain
    wake-up, the backlog at connect) is read from the database by cursor."""
    while not closed.is_set():
        waiter.ready.clear()
        if waiter.revoked:
            await websocket.close(UNAUTHORIZED, "device revoked")
            return
        sent = 0
        while waiter.pushed and not waiter.stale:
            cursor, text = waiter.pushed.popleft()
            if cursor <= position:
                continue  # already sent from the database
            if cursor != position + 1:
                waiter.stale = True  # something in between was not pushed (yet): read it
                break
            await websocket.send_text(text)
            position, sent = cursor, sent + 1
        more = False
        if waiter.stale:
            waiter.stale = False
            async with node.read_session() as session:
                events = await read_events(session, device_id=device_id, after=position, limit=BATCH)
            for event in events:
                await websocket.send_text(json.dumps(event.frame()))
            if events:
                position = events[-1].cursor
            sent += len(events)
            more = len(events) == BATCH
            if more:  # never clear here: a wake-up that came in during the read must stay
                waiter.stale = True
        if sent:
            DELIVERIES.labels("ws").inc(sent)
        if not more and not waiter.pushed:
            await waiter.ready.wait()
