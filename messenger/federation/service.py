"""``Federation``: the node's federation parts (key, peers, client, directory, sender) and the calls the
core routes make for chats with members in other states.

Methods that ask a peer end the caller's read transaction first (``session.commit()``), so no
database lock (or SQLite's single writer connection) is held while a peer answers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from nacl.signing import VerifyKey
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from messenger.db.base import now
from messenger.db.models import Device, Member, Message
from messenger.errors import Forbidden, NotFound
from messenger.federation import outbox
from messenger.federation.client import PeerClient
from messenger.federation.counters import Pruner
from messenger.federation.directory import Directory
from messenger.federation.keys import public_key_b64
from messenger.federation.outbox import ChatRelay, MessageFanout
from messenger.federation.peers import FederationConfig, load_config
from messenger.federation.sender import Sender
from messenger.federation.signing import attest
from messenger.keystore import KeyStore, Signer
from messenger.node import Node
from messenger.services.chats import USER_ID, members_of
from messenger.services.ids import home_state, new_id
from messenger.services.keys import DeviceKeys
from messenger.services.messages import check_ciphertext
from messenger.settings import Settings

FEATURE = "federation"


def federation_of(node: Node) -> Federation | None:
    """The node's federation (``None`` when the federation routes are not mounted)."""
    fed = node.features.get(FEATURE)
    return fed if isinstance(fed, Federation) else None


@dataclass
class Federation:
    settings: Settings
    config: FederationConfig
    key: Signer
    client: PeerClient
    directory: Directory
    sender: Sender
    relay: ChatRelay
    pruner: Pruner = field(default_factory=Pruner)

    @classmethod
    def create(cls, node: Node) -> Federation:
        settings = node.settings
        key, config = prepare(settings, node.keys)
        client = PeerClient(config, key)
        sender = Sender(node.sessions, client, readers=node.readers, max_bytes=settings.max_body_bytes // 2)
        _wake_sender_after_commit(node.sessions, sender)
        return cls(settings, config, key, client, Directory(client), sender, ChatRelay(settings.state))

    @property
    def state(self) -> str:
        return self.settings.state

    @property
    def public_key(self) -> str:
        return public_key_b64(self.key)

    @property
    def attesters(self) -> dict[str, VerifyKey]:
        """Whose message attestations this node accepts: its own and its permitted peers'."""
        keys = {s: p.verify_key for s, p in self.config.peers.items() if self.config.allowed(s)}
        return {**keys, self.state: self.key.verify_key}

    @property
    def base_url(self) -> str:
        return self.settings.base_url or f"http://{self.settings.host}:{self.settings.port}"

    async def stop(self) -> None:
        await self.sender.stop()
        await self.client.close()

    def _remote(self, user_ids: Iterable[str]) -> list[str]:
        return sorted({u for u in user_ids if home_state(u) != self.state})

    async def check_users(self, session: AsyncSession, user_ids: Sequence[str]) -> None:
        """Users of other states may join a chat if their state is a permitted peer and knows them."""
        remote = self._remote(u for u in user_ids if USER_ID.fullmatch(u))  # the core rejects the rest
        if not remote:
            return
        await session.commit()
        for state in sorted({home_state(u) for u in remote}):
            self.client.check_state(state)
        missing = sorted(set(remote) - await self.directory.known(remote))
        if missing:
            raise NotFound(f"unknown users: {', '.join(missing)}", code="user_not_found")

    async def recipients(self, session: AsyncSession, chat_id: str) -> MessageFanout | None:
        """The chat's member states and its host; ``None`` for a chat of this node only."""
        members = [u for u, _ in await members_of(session, chat_id)]
        host = await outbox.host_of(session, chat_id, self.state)
        remote = self._remote(members)
        if not remote and host == self.state:
            return None
        return MessageFanout(self.state, host, frozenset({home_state(u) for u in remote}))

    async def remote_device_keys(self, session: AsyncSession, chat_id: str) -> list[DeviceKeys]:
        """Public keys of the chat members' devices homed in other states (via their home nodes)."""
        members = [u for u, _ in await members_of(session, chat_id)]
        remote = self._remote(members)
        if not remote:
            return []
        if not self.directory.cached(remote):
            await session.commit()
        return [k for keys in (await self.directory.devices(remote)).values() for k in keys]

    async def user_devices(self, session: AsyncSession, user_id: str, *, claim: bool) -> list[DeviceKeys]:
        """A remote user's devices from the user's home node (``claim``: one one-time prekey each)."""
        await session.commit()
        if claim:
            return await self.directory.claim(user_id)
        return [k for keys in (await self.directory.devices([user_id])).values() for k in keys]

    async def submit(
        self,
        session: AsyncSession,
        fanout: MessageFanout,
        *,
        member: Member,
        device: Device,
        client_msg_id: str,
        reply_to: int | None,
        ciphertext: str,
        session_id: str,
    ) -> tuple[str, float]:
        """Queue a message for the chat's hosting node (which assigns ``seq``); returns (id, ts)."""
        check_ciphertext(self.settings, ciphertext)
        msg_id, ts = new_id("m"), now()
        message = {
            "chat_id": member.chat_id,
            "id": msg_id,
            "sender": member.user_id,
            "sender_device": device.id,
            "client_msg_id": client_msg_id,
            "reply_to": reply_to,
            "ts": ts,
            "session_id": session_id,
            "ciphertext": ciphertext,
        }
        message["attestation"] = attest(self.key, message)
        await outbox.submit(session, fanout, kind="message.submit", message=message)
        await session.commit()
        return msg_id, ts

    async def submit_edit(
        self,
        session: AsyncSession,
        fanout: MessageFanout,
        *,
        member: Member,
        device: Device,
        seq: int,
        ciphertext: str,
        session_id: str,
    ) -> None:
        """Queue an edit of the sender's own message for the chat's hosting node."""
        check_ciphertext(self.settings, ciphertext)
        msg = await session.scalar(
            select(Message).where(Message.chat_id == member.chat_id, Message.seq == seq)
        )
        if msg is None or msg.deleted_at is not None:
            raise NotFound(f"message {seq} not found", code="message_not_found")
        if msg.sender_user_id != member.user_id:
            raise Forbidden("only the sender may edit a message", code="not_allowed")
        message = {
            "chat_id": member.chat_id,
            "seq": seq,
            "sender": member.user_id,
            "sender_device": device.id,
            "session_id": session_id,
            "ciphertext": ciphertext,
        }
        await outbox.submit(session, fanout, kind="message.edit", message=message)
        await session.commit()

    async def forward(self, session: AsyncSession, member: Member, op: str, **args: Any) -> bool:
        """On a replica, queue ``op`` (see ``messenger.federation.ops``) for the chat's hosting node and
        return ``True`` (the route answers 202); ``False`` when the chat is hosted here."""
        host = await outbox.host_of(session, member.chat_id, self.state)
        if host == self.state:
            return False
        pdu = {"type": "chat.op", "chat_id": member.chat_id, "actor": member.user_id, "op": op, "args": args}
        await outbox.enqueue(session, [host], pdu)
        await session.commit()
        return True


def prepare(settings: Settings, keys: KeyStore) -> tuple[Signer, FederationConfig]:
    """The node's signing key (from the key store, created on first start) and its peers;
    ``MessengerConfigError`` naming the file if either is unusable. ``serve`` calls this before starting
    workers."""
    return keys.signer("federation"), load_config(settings.state, settings.peers)


def _wake_sender_after_commit(sessions: async_sessionmaker[AsyncSession], sender: Sender) -> None:
    """Wake the sender when a transaction that queued PDUs commits (the poll is the fallback)."""
    session_class: type[Session] = sessions.kw.get("sync_session_class", Session)

    def after_commit(session: Session) -> None:
        if session.in_nested_transaction():  # a SAVEPOINT was released, not the transaction
            return
        if session.info.pop(outbox.WAKE, None):
            asyncio.get_running_loop().call_soon(sender.wake.set)

    def after_rollback(session: Session) -> None:
        session.info.pop(outbox.WAKE, None)

    event.listen(session_class, "after_commit", after_commit)
    event.listen(session_class, "after_rollback", after_rollback)


def well_known(fed: Federation) -> dict[str, Any]:
    """``GET /.well-known/msgfleet``: what a peer operator copies into its peers file."""
    return {
        "state": fed.state,
        "base_url": fed.base_url,
        "federation": {"version": 1, "algorithm": "ed25519", "public_key": fed.public_key},
    }
