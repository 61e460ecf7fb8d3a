"""Refused server-to-server requests: counted always, logged and audited once per origin and reason per
window.

A refusal comes before any authentication holds, so everything in it is the sender's choice. Nobody may
fill the audit trail (append-only, kept for good) or the log by sending junk: every refusal is counted
(``msgfleet_federation_refused_total{reason}`` and the ``fed_counters`` row of its origin, reason and
window), and only the first of each window writes a log line and an audit entry. The origin is keyed as
given only when it is a configured peer (else ``?``), and the strings that are kept are cut to a fixed
length and to a small set of characters.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Collection

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from messenger.audit import record
from messenger.federation.counters import bump
from messenger.federation.metrics import REFUSED

log = logging.getLogger("messenger.federation.refused")

WINDOW_S = 60.0  # one audit entry per origin and reason per minute
KEEP_S = 86_400.0  # the window counts stay a day in fed_counters
_UNSAFE = re.compile(r"[^A-Za-z0-9 ._:/?=&%@+-]")


def clean(value: str, limit: int) -> str:
    """``value`` cut to ``limit`` characters, anything outside a URL-ish set replaced by ``_``."""
    return _UNSAFE.sub("_", value[:limit])


async def refuse(
    sessions: async_sessionmaker[AsyncSession],
    *,
    reason: str,
    origin: str,
    peers: Collection[str],
    path: str,
    client: str,
    detail: str,
) -> None:
    """Record that a request claiming ``origin`` was refused for ``reason`` (nothing else was stored)."""
    REFUSED.labels(reason).inc()
    who = origin if origin in peers else ("?" if origin else "")
    target = clean(path, 120)
    fields = {
        "reason": reason,
        "origin": clean(origin, 16) or None,
        "path": target,
        "client": clean(client, 45),
        "detail": clean(detail, 200),
        "window_s": WINDOW_S,
    }
    try:
        async with sessions() as session:
            ts = time.time()
            count = await bump(
                session, "refused", f"{who}|{reason}", window_s=WINDOW_S, expires_at=ts + KEEP_S
            )
            if count == 1:
                log.warning(
                    "federation request refused (later ones this minute are only counted)", extra=fields
                )
                await record(
                    session,
                    action="federation.refused",
                    actor=who or None,
                    target=target,
                    detail=fields,
                )
            await session.commit()
    except Exception:
        log.exception("counting a refused federation request failed", extra=fields)
