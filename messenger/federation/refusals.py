"""Refused server-to-server requests: one structured log line and an audit entry each."""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from messenger.audit import record_now
from messenger.federation.metrics import REFUSED

log = logging.getLogger("messenger.federation.refused")


async def refuse(
    sessions: async_sessionmaker[AsyncSession],
    *,
    reason: str,
    origin: str,
    path: str,
    client: str,
    detail: str,
) -> None:
    """Record that a request claiming ``origin`` was refused for ``reason`` (nothing else was stored)."""
    fields = {"reason": reason, "origin": origin or None, "path": path, "client": client, "detail": detail}
    log.warning("federation request refused", extra=fields)
    REFUSED.labels(reason).inc()
    try:
        await record_now(
            sessions, action="federation.refused", actor=origin or None, target=path, detail=fields
        )
    except Exception:
        log.exception("audit entry for a refused federation request failed", extra=fields)
