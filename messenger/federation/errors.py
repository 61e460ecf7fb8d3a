"""API errors of federation (mapped to ``{"error", "detail"}`` JSON like every ``ApiError``)."""

from __future__ import annotations

from messenger.errors import ApiError, BadRequest, Conflict, Forbidden, Unauthorized


class UnknownState(BadRequest):
    code = "unknown_state"


class FederationForbidden(Forbidden):
    code = "federation_forbidden"


class HostedElsewhere(Conflict):
    code = "hosted_elsewhere"


class PeerUnavailable(ApiError):
    status, code = 503, "peer_unavailable"


class Refused(Unauthorized):
    """A server-to-server request whose origin, signature or clock is not acceptable."""

    code = "federation_refused"
