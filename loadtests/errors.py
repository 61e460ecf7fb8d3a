"""Errors of the load-test tooling, printed by msgfleet's CLI as one line."""

from msgfleet.errors import MsgfleetError


class LoadTestError(MsgfleetError):
    """A load test, fleet or calibration that cannot go on; the message names the culprit."""


class FleetError(LoadTestError):
    """A node of the local fleet did not start, or a fleet directory is not usable."""
