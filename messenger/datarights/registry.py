"""The data-rights registry: every feature that stores personal data provides its own export and erase.

A feature writes a ``Provider`` next to its code (``messenger/<feature>/datarights.py`` or a function in
its service module) and adds the provider's dotted path to ``PROVIDERS``. Export and account deletion
iterate the providers in that order inside one database transaction: if any provider fails, the whole
deletion rolls back and nothing is half-erased.

``covers`` names the user-id columns a provider handles (table -> columns). Erase means: afterwards no
row of that table holds the user's id (or phone) in those columns — rows go, or the id is replaced by
``ERASED_USER``. ``tests/messenger/datarights/test_registry.py`` fails for any user-id column of
``Base.metadata`` that no provider covers and ``ALLOWED`` does not list, so a new feature that forgets
data rights cannot go unnoticed. (A static list, like ``messenger.app.ROUTERS``, not registration at
import time: nothing runs when a module is imported.)
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import Column, MetaData
from sqlalchemy.ext.asyncio import AsyncSession

from messenger.db.models.media import MediaObject

if TYPE_CHECKING:
    from messenger.media.service import Media

# Stands in for an erased user wherever a row stays for the other people in it (a tombstone in a shared
# chat, a call record, a co-owned channel's post). Not a valid user id (``USER_ID`` regex), so it can
# never be confused with, or collide with, a real account.
ERASED_USER = "erased"

# Erase order matters: features first (they may still read memberships), then media, chats, and the
# account itself last (its devices and user row cascade to keys and event logs).
PROVIDERS: tuple[str, ...] = (
    "messenger.services.contacts:DATA_RIGHTS",
    "messenger.scim.datarights:PROVIDER",
    "messenger.services.locations:DATA_RIGHTS",
    "messenger.channels.datarights:PROVIDER",
    "messenger.meetings.datarights:PROVIDER",
    "messenger.calls.datarights:PROVIDER",
    "messenger.billing.datarights:PROVIDER",
    "messenger.datarights.media:PROVIDER",
    "messenger.datarights.chats:PROVIDER",
    "messenger.identity.datarights:PROVIDER",
    "messenger.datarights.keys:PROVIDER",
    "messenger.datarights.account:ADMIN",
    "messenger.datarights.account:ACCOUNT",
)

# Columns deliberately left as they are although they may name the user, each with its reason
# (docs/API.md, "Data rights"). The meta-test refuses entries for columns that do not exist.
ALLOWED: Mapping[str, str] = {
    # Append-only and hash-chained (triggers refuse UPDATE/DELETE): who did what stays the legal basis of
    # security investigations. Entries hold pseudonymous user/device ids and counts; once the account is
    # deleted nothing on this node maps the id back to a phone number (failed logins name the login-code
    # row, which is erased with the account).
    "audit_log.actor": "append-only audit trail (legal basis); pseudonymous after deletion",
    "audit_log.target": "append-only audit trail (legal basis); pseudonymous after deletion",
    "audit_log.detail": "append-only audit trail (legal basis); counts and ids, no content",
    # Other people's event logs: the ``member.removed`` of the deletion itself, messages they received.
    # Those are the recipients' data; events are pruned after ``event_retention_days`` (30).
    "device_events.payload": "recipients' own event logs, pruned after event_retention_days",
    # PDUs on their way to another state's node; deleted once delivered.
    "fed_outbox.pdu": "in-flight federation PDUs, deleted on delivery",
}


@dataclass(frozen=True)
class Subject:
    """Whose data: the user, their phone number and their devices (captured before anything is erased)."""

    user_id: str
    phone: str
    device_ids: tuple[str, ...]


@dataclass
class Context:
    """What a provider works with; providers must not commit (the caller owns the transaction)."""

    session: AsyncSession
    subject: Subject
    media: Media
    # export: media objects whose plaintext goes into the zip
    files: list[MediaObject] = field(default_factory=list)
    # erase: sealed media objects to delete from storage once the transaction has committed
    blobs: list[MediaObject] = field(default_factory=list)


Export = Callable[[Context], Awaitable[Mapping[str, Any]]]
Erase = Callable[[Context], Awaitable[Mapping[str, int]]]


@dataclass(frozen=True)
class Provider:
    """One feature's personal data: ``export`` returns sections of ``account.json``; ``erase`` returns
    counts of what went (keys prefixed with ``name`` in the summary)."""

    name: str
    covers: Mapping[str, tuple[str, ...]]
    export: Export
    erase: Erase


def providers(paths: tuple[str, ...] = PROVIDERS) -> list[Provider]:
    """The registered providers, in order (imported on first use)."""
    found = []
    for path in paths:
        module, _, attr = path.partition(":")
        provider = getattr(importlib.import_module(module), attr)
        if not isinstance(provider, Provider):
            raise TypeError(f"{path} is not a messenger.datarights.registry.Provider")
        found.append(provider)
    return found


def covered(items: list[Provider]) -> dict[str, str]:
    """``"table.column"`` -> name of the provider that erases it."""
    out: dict[str, str] = {}
    for provider in items:
        for table, columns in provider.covers.items():
            for column in columns:
                out[f"{table}.{column}"] = provider.name
    return out


# Column names that hold a user id, device id or phone number by this code base's conventions.
_PERSON_NAMES = frozenset(
    {"user_id", "device_id", "phone", "owner_id", "author", "organizer", "actor", "target", "pair_key"}
)


def holds_person(column: Column[Any]) -> bool:
    """Whether ``column`` names a user, device or phone: by name (``*user_id``, ``*_by``, ``*device_id``,
    the names above) or by a foreign key to ``users``/``devices``; ``users.id``/``devices.id`` themselves."""
    name, table = column.name, column.table.name
    if (table, name) in {("users", "id"), ("devices", "id")}:
        return True
    if name in _PERSON_NAMES or name.endswith(("user_id", "device_id", "_by")):
        return True
    return any(fk.column.table.name in {"users", "devices"} for fk in column.foreign_keys)


def missing_coverage(metadata: MetaData, items: list[Provider] | None = None) -> list[str]:
    """``table.column`` of every person column that no provider covers and ``ALLOWED`` does not list."""
    done = set(covered(providers() if items is None else items)) | set(ALLOWED)
    return sorted(
        f"{table.name}.{column.name}"
        for table in metadata.sorted_tables
        for column in table.columns
        if holds_person(column) and f"{table.name}.{column.name}" not in done
    )
