"""Retention settings from ``MSGFLEET_RETENTION_*`` environment variables.

``MSGFLEET_RETENTION_RULES`` is a JSON object mapping a chat kind to the age in seconds after which its
messages lose their ciphertext (tombstoned) and its shared media is removed, e.g.
``{"group": 2592000, "private": 31536000}``; the kind ``channel`` is the age after which channel posts are
deleted; kinds not named (or 0) keep everything.
"""

from __future__ import annotations

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from messenger.datarights.retention import CHANNEL
from messenger.errors import MessengerConfigError
from messenger.services.chats import KINDS as CHAT_KINDS

KINDS = tuple(sorted((*CHAT_KINDS, CHANNEL)))  # what a rule may name


class RetentionSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MSGFLEET_RETENTION_", extra="ignore", frozen=True)

    rules: dict[str, float] = Field(default_factory=dict, description="chat kind -> max age in seconds")
    interval_seconds: float = Field(default=3600.0, gt=0, description="time between sweeps")

    def active(self) -> dict[str, float]:
        return {kind: age for kind, age in self.rules.items() if age > 0}


def load_retention_settings() -> RetentionSettings:
    """Retention settings from the environment; a wrong value raises one line naming the variable."""
    try:
        settings = RetentionSettings()
    except ValidationError as exc:
        err = exc.errors()[0]
        field = str(err["loc"][0]) if err["loc"] else "rules"
        raise MessengerConfigError(f"setting MSGFLEET_RETENTION_{field.upper()}: {err['msg']}") from None
    unknown = sorted(set(settings.rules) - set(KINDS))
    if unknown:  # a misspelt kind would start a node that never sweeps it
        raise MessengerConfigError(
            f"setting MSGFLEET_RETENTION_RULES: unknown kind {', '.join(map(repr, unknown))}"
            f" (valid: {', '.join(KINDS)})"
        )
    negative = sorted(kind for kind, age in settings.rules.items() if age < 0)
    if negative:
        raise MessengerConfigError(
            f"setting MSGFLEET_RETENTION_RULES: negative age for {', '.join(negative)}"
        )
    return settings
