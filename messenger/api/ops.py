"""Operations: liveness, readiness (database reachable) and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response
from sqlalchemy import text

from messenger.api.deps import NodeDep
from messenger.errors import ApiError
from messenger.metrics import render

router = APIRouter(tags=["ops"])


class NotReady(ApiError):
    status, code = 503, "not_ready"


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(node: NodeDep) -> dict[str, str]:
    """The database answers; 503 otherwise."""
    try:
        async with node.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as exc:
        raise NotReady(f"database unreachable: {type(exc).__name__}") from exc
    return {"status": "ready", "state": node.settings.state}


@router.get("/metrics", include_in_schema=False)
async def metrics() -> Response:
    body, content_type = render()
    return Response(body, media_type=content_type)
