"""Errors of the messenger node."""


class MessengerConfigError(Exception):
    """A setting that stops the node from starting; printed as one line."""
