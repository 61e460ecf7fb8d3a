"""Pure ASGI middleware: request-body size limit (413) and per-route latency metrics."""

from __future__ import annotations

import json
import time
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from messenger.api.scim import MEDIA_TYPE as SCIM_MEDIA_TYPE
from messenger.api.scim import PREFIX as SCIM_PREFIX
from messenger.api.scim import error_body as scim_error
from messenger.metrics import REQUEST_LATENCY

# Exact paths of routes that stream their body and enforce their own limits (media uploads).
STREAMED_PATHS: tuple[str, ...] = ("/v1/media",)


class BodyLimit:
    """Refuse bodies over ``limit`` bytes: by Content-Length up front, else while streaming."""

    def __init__(self, app: ASGIApp, limit: int):
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in STREAMED_PATHS:
            return await self.app(scope, receive, send)
        length = next((v for k, v in scope["headers"] if k == b"content-length"), None)  # no dict per request
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            await _drain(receive, cap=DRAIN_FACTOR * self.limit)
            return await _reject(send, self.limit, scim=scope["path"].startswith(SCIM_PREFIX))
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise HTTPException(
                    413, f"request body is larger than {self.limit} bytes"
                )  # passes FastAPI's body parser
            return message

        await self.app(scope, limited, send)


# Read and discard up to this many times the limit before answering 413, so that an ordinary client still
# sending its body reads the answer instead of a connection reset; beyond that the socket is just closed.
DRAIN_FACTOR = 16


async def _drain(receive: Receive, cap: int) -> None:
    drained = 0
    while drained <= cap:
        message = await receive()
        drained += len(message.get("body", b""))
        if message["type"] != "http.request" or not message.get("more_body"):
            return


async def _reject(send: Send, limit: int, *, scim: bool) -> None:
    """413 in the node's error shape, or as a SCIM Error under ``/scim/v2`` (RFC 7644 §3.12)."""
    detail = f"request body is larger than {limit} bytes"
    body = json.dumps(scim_error(413, detail) if scim else {"error": "payload_too_large", "detail": detail})
    media = SCIM_MEDIA_TYPE if scim else "application/json"
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", media.encode()), (b"connection", b"close")],
        }
    )
    await send({"type": "http.response.body", "body": body.encode()})


class Timing:
    """Observe request latency labelled by the matched route template (not the raw path)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start = time.perf_counter()
        status: dict[str, Any] = {"code": 500}

        async def send_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            REQUEST_LATENCY.labels(scope["method"], route, str(status["code"])).observe(
                time.perf_counter() - start
            )
