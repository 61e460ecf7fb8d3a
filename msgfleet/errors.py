"""The base of every error msgfleet reports to a user as one line (file, line, field, problem)."""


class MsgfleetError(Exception):
    """An error caused by the user's input or environment, printed without a traceback."""
