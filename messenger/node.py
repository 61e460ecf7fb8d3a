"""The running node's shared objects (engine, sessions, hub, SMS sender), built in the app's lifespan."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from messenger import clock
from messenger.db.engine import make_engine
from messenger.keystore import SESSION_INFO, KeyStore, open_keystore
from messenger.realtime.events import CHAT_HOOKS, ChatHook, install_wake_after_commit
from messenger.realtime.hub import Hub, RedisHub
from messenger.settings import Settings
from messenger.sms import FileSmsSender, SmsSender


@dataclass
class Node:
    """Everything a route needs besides its request; reachable as ``request.app.state.node``."""

    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    hub: Hub
    sms: SmsSender
    secret: bytes
    keys: KeyStore  # media, totp, audit and federation keys (messenger.keystore)
    # Objects that feature modules build in their ``startup(node)`` (e.g. ``features["media"]``).
    features: dict[str, Any] = field(default_factory=dict)
    # Run by ``emit_to_chat`` in every session of this node (federation relays chat events).
    chat_hooks: list[ChatHook] = field(default_factory=list)
    # Sessions for read-only work (event reads); on SQLite they do not queue behind the writer's lock.
    readers: async_sessionmaker[AsyncSession] | None = None

    @classmethod
    async def start(cls, settings: Settings) -> Node:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        if settings.dev_clock:
            clock.use_dev_clock(settings.data_dir / "dev-clock.json")
        hub: Hub = RedisHub(settings.redis_url, settings.channel_prefix) if settings.redis_url else Hub()
        await hub.start()
        engine = make_engine(
            settings.db_url, pool_size=settings.db_pool_size, pool_timeout=settings.db_pool_timeout
        )
        hooks: list[ChatHook] = []
        keys = open_keystore(settings)
        sessions = async_sessionmaker(
            engine,
            expire_on_commit=False,
            autoflush=False,
            sync_session_class=install_wake_after_commit(hub),
            info={CHAT_HOOKS: hooks, SESSION_INFO: keys},
        )
        secret = settings.secret_key.encode() if settings.secret_key else node_secret(settings.data_dir)
        sms = FileSmsSender(settings.sms_path)
        readers = None
        if settings.is_sqlite:
            readers = async_sessionmaker(make_engine(settings.db_url, read_only=True), expire_on_commit=False)
        return cls(settings, engine, sessions, hub, sms, secret, keys, chat_hooks=hooks, readers=readers)

    @property
    def read_engine(self) -> AsyncEngine:
        """The engine of :meth:`read_session` (Core reads, ``messenger.services.reads``)."""
        return self.readers.kw["bind"] if self.readers is not None else self.engine

    def read_session(self) -> AsyncSession:
        """A session for reads only (never write with it)."""
        return (self.readers or self.sessions)()

    async def stop(self) -> None:
        await self.hub.stop()
        if self.readers is not None:
            await self.readers.kw["bind"].dispose()
        await self.engine.dispose()
        self.keys.close()


def node_secret(data_dir: Path) -> bytes:
    """The node's HMAC key from ``<data_dir>/secret.key``, created (0600) on first use."""
    path = data_dir / "secret.key"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes().strip()
    with os.fdopen(fd, "w") as out:
        out.write(secrets.token_hex(32))
    return path.read_bytes().strip()
