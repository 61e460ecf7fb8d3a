"""Errors of the messenger node.

``MessengerConfigError`` stops a start with one line; ``ApiError`` subclasses are raised by routes and
services and turned into ``{"error": code, "detail": ...}`` JSON in one place (``messenger.api.errors``).
"""

from __future__ import annotations


class MessengerConfigError(Exception):
    """A setting that stops the node from starting; printed as one line."""


class ApiError(Exception):
    """A client error: an HTTP status, a stable machine-readable code and a human sentence."""

    status: int = 400
    code: str = "bad_request"

    def __init__(self, detail: str, *, code: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code
        self.headers = headers or {}


class BadRequest(ApiError):
    status, code = 400, "bad_request"


class Unauthorized(ApiError):
    status, code = 401, "unauthorized"

    def __init__(self, detail: str, *, code: str | None = None):
        super().__init__(detail, code=code, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(ApiError):
    status, code = 403, "forbidden"


class NotFound(ApiError):
    status, code = 404, "not_found"


class Conflict(ApiError):
    status, code = 409, "conflict"


class PayloadTooLarge(ApiError):
    status, code = 413, "payload_too_large"


class Unprocessable(ApiError):
    status, code = 422, "invalid"


class RateLimited(ApiError):
    status, code = 429, "rate_limited"

    def __init__(self, detail: str, *, retry_after: int, code: str | None = None):
        super().__init__(detail, code=code, headers={"Retry-After": str(max(1, retry_after))})
        self.retry_after = retry_after


class BadGateway(ApiError):
    """An upstream service (an identity provider) answered with something unusable."""

    status, code = 502, "bad_gateway"


class Unavailable(ApiError):
    """An upstream service (an identity provider) cannot be reached now; retry later."""

    status, code = 503, "unavailable"

    def __init__(self, detail: str, *, code: str | None = None, retry_after: int = 30):
        super().__init__(detail, code=code, headers={"Retry-After": str(retry_after)})
