"""Remote users and their device keys, fetched through each user's home node.

Other states' devices are never written to this node's database. Their public keys are kept in a
memory cache (``ttl_s``, default 10 s) so that a chat's recipient list and the following post agree and
a burst of messages does not query the peer for each one; while a peer is unreachable its last answer
is used (a node that is down still gets its messages from the outbox when it is back). The cache dies
with the process.
"""

from __future__ import annotations

import re
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from messenger.db.models import Member
from messenger.federation.client import PeerClient, PeerError
from messenger.federation.errors import PeerUnavailable
from messenger.services.ids import home_state
from messenger.services.keys import DeviceKeys

DEVICES_PATH = "/_federation/v1/query/devices"
USERS_PATH = "/_federation/v1/query/users"


PROVIDER_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")  # as messenger.identity.settings' name


def keys_to_wire(
    items: Iterable[DeviceKeys], verified: dict[str, list[str]] | None = None
) -> list[dict[str, object]]:
    """The answer to a device query; ``verified``: the providers' names that verified each user (only
    the names cross the border, docs/IDENTITY.md)."""
    return [
        {
            "user_id": k.user_id,
            "device_id": k.device_id,
            "identity_key": k.identity_key,
            "signing_key": k.signing_key,
            "identity_signature": k.identity_signature,
            "prekey": list(k.prekey) if k.prekey else None,
            "verified_by": sorted((verified or {}).get(k.user_id, [])),
        }
        for k in items
    ]


def keys_from_wire(rows: list[dict[str, object]], state: str) -> list[DeviceKeys]:
    """Parse a peer's answer, keeping only users homed in ``state`` (a peer speaks for its own users)."""
    out = []
    for row in rows:
        user_id = str(row["user_id"])
        if home_state(user_id) != state:
            continue
        prekey = row.get("prekey")
        pk = (
            (
                int(prekey[0]) if prekey[0] is not None else None,
                str(prekey[1]),
                str(prekey[2]) if prekey[2] else None,
            )
            if isinstance(prekey, list) and len(prekey) == 3
            else None
        )
        names = row.get("verified_by")
        verified = (
            tuple(n for n in names if isinstance(n, str) and PROVIDER_NAME.fullmatch(n))
            if isinstance(names, list)
            else ()
        )
        out.append(
            DeviceKeys(
                user_id,
                str(row["device_id"]),
                str(row["identity_key"]) if row.get("identity_key") else None,
                str(row["signing_key"]) if row.get("signing_key") else None,
                pk,
                str(row["identity_signature"]) if row.get("identity_signature") else None,
                verified[:16],
            )
        )
    return out


async def related_users(session: AsyncSession, user_ids: Sequence[str], origin: str) -> list[str]:
    """Those of this node's ``user_ids`` who share a chat with a user homed in ``origin`` (the answering
    side of a prekey claim: a peer may start sessions only with its users' chat partners)."""
    if not user_ids:
        return []
    mine, theirs = aliased(Member), aliased(Member)
    rows = await session.scalars(
        select(mine.user_id)
        .join(theirs, theirs.chat_id == mine.chat_id)
        .where(mine.user_id.in_(user_ids), theirs.user_id.like(f"%@{origin}"))
        .distinct()
    )
    return sorted(rows)


@dataclass
class _Entry:
    fetched: float
    devices: list[DeviceKeys]


class Directory:
    """Device keys and existence of users homed on other nodes."""

    def __init__(self, client: PeerClient, *, ttl_s: float = 10.0):
        self.client, self.ttl_s = client, ttl_s
        self._cache: dict[str, _Entry] = {}

    def cached(self, user_ids: Iterable[str]) -> bool:
        """Whether ``devices(user_ids)`` answers from the cache, without asking a peer."""
        now = time.monotonic()
        return all(u in self._cache and now - self._cache[u].fetched <= self.ttl_s for u in user_ids)

    async def devices(self, user_ids: Iterable[str]) -> dict[str, list[DeviceKeys]]:
        """State → active devices (with keys, no prekeys) of the given remote users, grouped by home state."""
        by_state: dict[str, list[str]] = defaultdict(list)
        for user_id in sorted(set(user_ids)):
            by_state[home_state(user_id)].append(user_id)
        out: dict[str, list[DeviceKeys]] = {}
        now = time.monotonic()
        for state, users in by_state.items():
            stale = [u for u in users if u not in self._cache or now - self._cache[u].fetched > self.ttl_s]
            if stale:
                await self._refresh(state, stale, users)
            out[state] = [k for u in users for k in self._cache[u].devices]
        return out

    async def _refresh(self, state: str, stale: list[str], users: list[str]) -> None:
        self.client.check_state(state)
        try:
            rows = await self.client.call(state, "POST", DEVICES_PATH, {"user_ids": stale, "claim": False})
        except PeerError as exc:
            if all(u in self._cache for u in users):
                return  # the peer is down: keep using its last answer
            raise PeerUnavailable(f"the node of {state} did not answer: {exc.detail}") from None
        fetched = time.monotonic()
        found: dict[str, list[DeviceKeys]] = {u: [] for u in stale}
        for keys in keys_from_wire(rows, state):
            if keys.user_id in found:
                found[keys.user_id].append(keys)
        for user_id, devices in found.items():
            self._cache[user_id] = _Entry(fetched, devices)

    async def claim(self, user_id: str) -> list[DeviceKeys]:
        """A remote user's devices, each handing out one one-time prekey (never cached)."""
        state = home_state(user_id)
        rows = await self.client.query(state, DEVICES_PATH, {"user_ids": [user_id], "claim": True})
        return keys_from_wire(rows, state)

    async def known(self, user_ids: Iterable[str]) -> set[str]:
        """Which of the remote ``user_ids`` exist on their home nodes."""
        by_state: dict[str, list[str]] = defaultdict(list)
        for user_id in set(user_ids):
            by_state[home_state(user_id)].append(user_id)
        known: set[str] = set()
        for state, users in sorted(by_state.items()):
            answer = await self.client.query(state, USERS_PATH, {"user_ids": sorted(users)})
            known |= {u for u in answer.get("known", []) if home_state(u) == state}
        return known
