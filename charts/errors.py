"""Errors the charts report to a user as one line."""

from msgfleet.errors import MsgfleetError


class ChartsError(MsgfleetError):
    """A results directory the charts cannot use."""
