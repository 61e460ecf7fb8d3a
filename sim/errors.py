"""Errors the simulator reports to a user as one line."""

from msgfleet.errors import MsgfleetError


class SimError(MsgfleetError, ValueError):
    """A simulation input that cannot be used (unknown country, unmapped region, bad argument)."""
