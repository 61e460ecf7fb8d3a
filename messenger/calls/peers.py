"""Calls with participants homed in other states: the hook a node's federation installs.

The call lives on the node where it was started (the caller's home node, its *hosting* node). That node
pushes ``call.*`` events and signalling to its own users' devices; ``CallPeers`` (installed in every
session's ``info`` under ``CALL_PEERS``) carries them to the other participants' home nodes, and hands
a remote participant's closed leg to that user's home node, which meters and bills it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from messenger.db.models.calls import Call, CallLeg

CALL_PEERS = "msgfleet.call_peers"


class DeviceRef(Protocol):
    """The device acting in a call: a local ``Device`` or a ``RemoteDevice`` of another state."""

    @property
    def id(self) -> str: ...

    @property
    def user_id(self) -> str: ...


@dataclass(frozen=True, slots=True)
class RemoteDevice:
    """A device of a user homed in another state, acting through its home node (``call.op``)."""

    id: str
    user_id: str


class CallPeers(Protocol):
    def remote(self, user_id: str) -> bool:
        """Whether ``user_id`` is homed in another state."""
        ...

    async def event(
        self,
        session: AsyncSession,
        *,
        call_id: str,
        kind: str,
        payload: Mapping[str, Any],
        users: Sequence[str],
    ) -> None:
        """Queue ``call.*`` event ``kind`` for the home nodes of the remote ones of ``users``."""
        ...

    async def signal(
        self,
        session: AsyncSession,
        *,
        call_id: str,
        payload: Mapping[str, Any],
        users: Sequence[str],
        to_device: str | None,
    ) -> int:
        """Queue a ``call.signal`` for the remote ``users``' home nodes; returns how many users it targets."""
        ...

    async def usage(
        self, session: AsyncSession, *, call: Call, leg: CallLeg, span: tuple[float, float] | None
    ) -> None:
        """Hand a remote participant's closed ``leg`` (billable ``span``) to the user's home node."""
        ...

    async def rang_here(self, session: AsyncSession, *, call_id: str, user_id: str) -> bool:
        """Whether ``call_id`` is a call hosted in another state in a chat ``user_id`` is a member of."""
        ...

    async def forward(
        self, session: AsyncSession, *, call_id: str, device: DeviceRef, op: str, args: Mapping[str, Any]
    ) -> bool:
        """For a call hosted in another state: queue ``op`` by ``device`` for the hosting node, commit and
        return ``True`` (the route answers 202); ``False`` for a call this node does not know as remote."""
        ...


def peers_of(session: AsyncSession) -> CallPeers | None:
    """The node's call federation, ``None`` on a node without federation."""
    peers: CallPeers | None = session.info.get(CALL_PEERS)
    return peers
