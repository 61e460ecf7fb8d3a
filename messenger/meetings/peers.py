"""Meetings with invitees homed in other states: the hook a node's federation installs.

A meeting lives on its organizer's home node. That node pushes ``meeting.*`` events to its own users'
devices; ``MeetingPeers`` (in every session's ``info`` under ``MEETING_PEERS``) carries them to the
other invitees' home nodes, forwards an invitee's RSVP from their home node to the organizer's, and
gives an invitee's home node its copy of the meetings hosted elsewhere.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

MEETING_PEERS = "msgfleet.meeting_peers"


class MeetingPeers(Protocol):
    async def event(
        self,
        session: AsyncSession,
        *,
        meeting_id: str,
        kind: str,
        payload: Mapping[str, Any],
        users: Sequence[str],
    ) -> None:
        """Queue ``meeting.*`` event ``kind`` for the home nodes of the remote ones of ``users``."""
        ...

    async def forward_rsvp(
        self, session: AsyncSession, *, meeting_id: str, user_id: str, response: str
    ) -> bool:
        """For a meeting organized in another state: queue the RSVP for its node, commit and return
        ``True`` (the route answers 202); ``False`` for a meeting this node does not know as remote."""
        ...

    async def views(
        self, session: AsyncSession, *, user_id: str, meeting_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Views (as ``meetings.service.view``) of meetings organized in other states that invite
        ``user_id`` (only ``meeting_id``, if given), as their hosts last described them."""
        ...


def peers_of(session: AsyncSession) -> MeetingPeers | None:
    """The node's meeting federation, ``None`` on a node without federation."""
    peers: MeetingPeers | None = session.info.get(MEETING_PEERS)
    return peers
