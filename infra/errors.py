"""Errors of the infra package, printed as one line by ``msgfleet``."""

from msgfleet.errors import MsgfleetError


class InfraError(MsgfleetError):
    """A stack or plan that cannot be provisioned, or a rendered manifest that fails a check."""
