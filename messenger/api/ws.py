"""``WS /v1/ws``: push a device's events in order; resume exactly with the last cursor (docs/API.md).

Authentication: a first frame ``{"type": "auth", "token": ..., "cursor": n}``, or ``Authorization:
Bearer`` at the handshake (clients that can set headers). Never a token in the URL: URLs end up in
logs (uvicorn's, proxies'), so ``?token=`` is refused with 4400. Close code 4401: bad token or device
revoked.
"""

from __future__ import annotations

import asyncio
import importlib
import json
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from pydantic import Field, TypeAdapter, ValidationError

from messenger.api.schemas import DB_INT_MAX, DbInt
from messenger.metrics import DELIVERIES, SOCKETS
from messenger.node import Node
from messenger.realtime.events import read_events
from messenger.realtime.hub import Waiter
from messenger.realtime.retention import has_gap
from messenger.security import token_hash
from messenger.services import reads

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


class BadFrame(ValueError):
    """A client frame this protocol cannot take: answered with an ``error`` frame (``code``, 422), then the
    socket is closed with ``close`` when one is given (RFC 6455 §7.4.1 codes, or 4400)."""

    def __init__(
        self, detail: str, *, code: str = "bad_frame", close: int | None = None, **extra: Any
    ) -> None:
        super().__init__(detail)
        self.detail, self.code, self.close, self.extra = detail, code, close, extra

    def frame(self) -> dict[str, Any]:
        return {"type": "error", "error": self.code, "detail": self.detail, "status": 422, **self.extra}


# A resume cursor is a ``device_events.seq``; JSON frames must send an integer (not ``true`` or 1.5),
# the query string sends its digits.
_CURSOR: TypeAdapter[int] = TypeAdapter(Annotated[DbInt, Field(ge=0)])


def _cursor(value: Any) -> int | None:
    if value is None:
        return None
    try:
        return _CURSOR.validate_python(value, strict=not isinstance(value, str))
    except ValidationError:
        raise BadFrame(
            f"cursor must be an integer from 0 to {DB_INT_MAX}", code="bad_cursor", close=BAD_FRAME
        ) from None


async def _receive_frame(websocket: WebSocket) -> dict[str, Any]:
    """The client's next frame as a JSON object; :class:`BadFrame` for anything else (a binary frame also
    ends the socket: this protocol is JSON text). Invalid UTF-8 never gets here: uvicorn closes with 1007."""
    message = await websocket.receive()
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000), message.get("reason"))
    text = message.get("text")
    if text is None:
        raise BadFrame("binary frames are not part of this protocol: send JSON text", close=1003)
    try:
        frame = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser recurses
        raise BadFrame("frame is not JSON") from None
    if not isinstance(frame, dict):
        raise BadFrame("frame must be a JSON object")
    return frame


async def _credentials(websocket: WebSocket) -> tuple[str, int | None]:
    """Token and resume cursor; ``ValueError`` (a 4400 close) for anything but the documented forms."""
    if "token" in websocket.query_params:
        raise ValueError("token in the URL refused; send it in the first frame")
    cursor = _cursor(websocket.query_params.get("cursor"))
    scheme, _, token = websocket.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip(), cursor
    frame = await asyncio.wait_for(_receive_frame(websocket), AUTH_TIMEOUT)
    if frame.get("type") != "auth" or not isinstance(frame.get("token"), str):
        raise ValueError('first frame must be {"type": "auth", "token": "..."}')
    return frame["token"], _cursor(frame.get("cursor", cursor))


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
            try:
                frame = await _receive_frame(websocket)
                if frame.get("type") == "ping":
                    await websocket.send_text('{"type": "pong"}')
                elif (handler := _frame_handler(frame.get("type"))) is not None:
                    await websocket.send_text(json.dumps(await handler(node, device_id, frame)))
                else:
                    echo = {"id": frame["id"]} if "id" in frame else {}
                    raise BadFrame(f"unknown frame type {str(frame.get('type'))[:40]!r}", **echo)
            except BadFrame as exc:
                await websocket.send_text(json.dumps(exc.frame()))
                if exc.close is not None:
                    await websocket.close(exc.close, exc.detail)
                    return
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
    except BadFrame as exc:
        if exc.code != "bad_frame":  # the credentials were read, one of them is wrong: say which
            await websocket.send_text(json.dumps(exc.frame()))
        await websocket.close(BAD_FRAME, exc.detail if exc.code != "bad_frame" else "bad auth frame")
        return
    except (ValueError, AttributeError, TypeError, TimeoutError) as exc:
        await websocket.close(BAD_FRAME, str(exc)[:120] if isinstance(exc, ValueError) else "bad auth frame")
        return
    except WebSocketDisconnect:
        return
    async with node.read_engine.connect() as conn:  # Core, on SQLite a WAL reader (services/reads.py)
        device = await reads.device(conn, token_hash=token_hash(token))
        if device is None:
            await websocket.close(UNAUTHORIZED, "invalid token")
            return
        device_id, user_id, head = device
        position = head if cursor is None else cursor
        gap = await has_gap(conn, device_id=device_id, cursor=position, head=head)
    if position > head:  # nothing would ever follow it: the client resumes from a log it does not have
        ahead = BadFrame(
            f"cursor {position} is beyond this device's head {head}", code="cursor_ahead", head=head
        )
        await websocket.send_text(json.dumps(ahead.frame()))
        await websocket.close(BAD_FRAME, "cursor beyond head")
        return
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
