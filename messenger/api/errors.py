"""The one place where exceptions become ``{"error": code, "detail": ...}`` JSON responses."""

from __future__ import annotations

import logging
from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from messenger.errors import ApiError

log = logging.getLogger("messenger.api")

_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large", 400: "bad_request"}


class ErrorBody(BaseModel):
    """The body of every 4xx response (documented once for all routes as OpenAPI ``4XX``)."""

    error: str
    detail: str


ERROR_RESPONSES: dict[int | str, dict[str, object]] = {
    "4XX": {"model": ErrorBody, "description": 'Client error: {"error": code, "detail": sentence}'}
}


def error_response(
    status: int, code: str, detail: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"error": code, "detail": detail}, status_code=status, headers=headers)


def _validation_detail(exc: RequestValidationError) -> tuple[str, str]:
    errors = exc.errors()
    if any(err.get("type") == "json_invalid" for err in errors):
        return "malformed_json", "request body is not valid JSON"
    parts = []
    for err in errors[:5]:
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
        parts.append(f"{loc}: {err.get('msg')}")
    return "validation_error", "; ".join(parts)


_METHODS = ("DELETE", "GET", "PATCH", "POST", "PUT")  # the ones the API documents


def _allowed(request: Request) -> str:
    """Every method some route of this path takes (RFC 9110 §15.5.6: a 405 lists them all in ``Allow``;
    Starlette names only the first matching route's, and a path often has one route per method). Asked
    of each route as routing does (``matches``), since FastAPI nests included routers."""
    routes = request.app.router.routes
    return ", ".join(
        method
        for method in _METHODS
        if any(route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes)
    )


def install_error_handlers(app: FastAPI) -> None:
    """Map ApiError, FastAPI validation errors, Starlette HTTP errors and anything else to the JSON shape."""

    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.detail, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        code, detail = _validation_detail(exc)
        return error_response(400 if code == "malformed_json" else 422, code, detail)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code) or HTTPStatus(exc.status_code).phrase.lower().replace(
            " ", "_"
        )
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = _allowed(request)
        return error_response(exc.status_code, code, str(exc.detail), headers)

    @app.exception_handler(PoolTimeout)
    async def _pool_exhausted(request: Request, _exc: PoolTimeout) -> JSONResponse:
        # Every database connection was busy for db_pool_timeout seconds: overload, not a bug (a flood).
        return _unavailable(request, "database pool exhausted")

    @app.exception_handler(DBAPIError)
    async def _database(request: Request, exc: DBAPIError) -> JSONResponse:
        # PostgreSQL refusing a new connection (SQLSTATE 53300 too_many_connections) is overload too.
        if getattr(exc.orig, "sqlstate", None) == "53300":
            return _unavailable(request, "database refused a connection")
        return _internal(request)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, _exc: Exception) -> JSONResponse:
        return _internal(request)


def _unavailable(request: Request, why: str) -> JSONResponse:
    log.warning(why, extra={"path": request.url.path})
    detail = "the node is overloaded (no database connection free); retry shortly"
    return error_response(503, "unavailable", detail, {"Retry-After": "1"})


def _internal(request: Request) -> JSONResponse:
    log.exception("unhandled error", extra={"path": request.url.path})  # inside the handler: has exc_info
    return error_response(500, "internal_error", "the node failed to handle this request")
