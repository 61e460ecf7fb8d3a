"""Group commit for the send path: posts that arrive while a transaction runs share the next one.

Storing a message alone costs a transaction of about seven statements (token and membership, recipients,
sequence, message, cursors, events, commit), and on SQLite the one writer connection makes every other
post wait for it. ``PostBatcher`` queues posts and stores each batch in one transaction with a fixed
number of statements, whatever the batch size: resolve the senders' devices, read the chats' members and
devices, find retried client ids, lock and advance the chats' sequences and the recipients' cursors,
insert messages (one Megolm ciphertext each) and events (executemany), commit. A batch is whatever
queued while the previous one ran, so under light load it is one post and latency is unchanged; under
load the cost per message falls with the batch size. (PostgreSQL's own group commit shares WAL flushes
only; SQLite has none; neither saves the statements and round trips, hence this module.)

The checks and answers are those of ``messages.post_message`` (401, 404, 400, a retried
``client_msg_id`` answered with the stored message). A post the batch does not take raises ``PostAlone``
and the caller stores it on its own with ``messages.post_message``, the reference path: a chat with
members or its host in another state (federation), or any post of a batch whose transaction failed
(a lost race on a retried ``client_msg_id`` between workers, a deadlock, a dropped connection).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import defaultdict, deque
from dataclasses import dataclass

from sqlalchemy import bindparam, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from messenger.db.base import now
from messenger.db.models import Chat, ChatHost, Device, Member, Message
from messenger.errors import ApiError, BadRequest, NotFound, Unauthorized
from messenger.metrics import MESSAGES_STORED, POST_BATCH_SIZE, REPLIES_STORED
from messenger.realtime.events import append_events
from messenger.services.ids import new_id, spans_states
from messenger.services.messages import Posted, check_ciphertext
from messenger.settings import Settings

log = logging.getLogger("messenger.postbatch")

MAX_BATCH = 256  # posts per transaction; bounds the statements' parameter lists


class PostAlone(Exception):
    """This post is not stored by the batch: store it on its own (``messages.post_message``)."""


@dataclass(slots=True)
class Post:
    """One post waiting for its batch. The sender is a token hash (HTTP) or a device id (WebSocket)."""

    chat_id: str
    client_msg_id: str
    reply_to: int | None
    ciphertext: str
    session_id: str
    token_hash: str | None = None
    device_id: str | None = None
    user_id: str = ""
    recipients: frozenset[str] = frozenset()
    msg_id: str = ""
    seq: int = 0
    ts: float = 0.0
    result: asyncio.Future[Posted] | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.chat_id, self.device_id or "", self.client_msg_id)


# Built once (per-request construction showed in the profile); all run as Core on the batch's connection.
_SENDERS = select(Device.id, Device.user_id, Device.token_hash).where(
    or_(
        Device.token_hash.in_(bindparam("hashes", expanding=True)),
        Device.id.in_(bindparam("ids", expanding=True)),
    ),
    Device.revoked_at.is_(None),
)
_ROSTER = (
    select(Member.chat_id, Member.user_id, Device.id, ChatHost.host_state)
    .outerjoin(Device, (Device.user_id == Member.user_id) & Device.revoked_at.is_(None))
    .outerjoin(ChatHost, ChatHost.chat_id == Member.chat_id)
    .where(Member.chat_id.in_(bindparam("chat_ids", expanding=True)))
)
_STORED = select(
    Message.chat_id,
    Message.sender_device_id,
    Message.client_msg_id,
    Message.id,
    Message.seq,
    Message.created_at,
).where(
    Message.chat_id.in_(bindparam("chat_ids", expanding=True)),
    Message.client_msg_id.in_(bindparam("client_ids", expanding=True)),
)
# Rows are locked in id order (chats before devices, as in the single path) so that concurrent batches
# and single posts on other workers cannot deadlock; SQLite's BEGIN IMMEDIATE already serialises writers.
_CHAT_SEQS = (
    select(Chat.id, Chat.last_seq).where(Chat.id.in_(bindparam("ids", expanding=True))).order_by(Chat.id)
)
_DEVICE_SEQS = (
    select(Device.id, Device.event_seq)
    .where(Device.id.in_(bindparam("ids", expanding=True)))
    .order_by(Device.id)
)
_SET_CHAT_SEQ = update(Chat).where(Chat.id == bindparam("b_id")).values(last_seq=bindparam("b_seq"))
_SET_DEVICE_SEQ = update(Device).where(Device.id == bindparam("b_id")).values(event_seq=bindparam("b_seq"))
_INSERT_MESSAGE = insert(Message)


class PostBatcher:
    """One per worker process: ``await submit(post)`` returns the stored message or raises its error."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], settings: Settings) -> None:
        self.sessions, self.settings = sessions, settings
        self._queue: deque[Post] = deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="post-batcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        while self._queue:  # the callers store these on their own
            _fail(self._queue.popleft(), PostAlone())

    async def submit(self, post: Post) -> Posted:
        if self._task is None or self._task.done():
            raise PostAlone()
        post.result = asyncio.get_running_loop().create_future()
        self._queue.append(post)
        self._wake.set()
        return await post.result

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                batch = [self._queue.popleft() for _ in range(min(len(self._queue), MAX_BATCH))]
                try:
                    await self._store(batch)
                except asyncio.CancelledError:
                    for post in batch:
                        _fail(post, PostAlone())
                    raise
                except Exception:  # the reference path takes them one by one and answers each
                    log.warning("post batch of %d failed; storing alone", len(batch), exc_info=True)
                    for post in batch:
                        _fail(post, PostAlone())

    async def _store(self, batch: list[Post]) -> None:
        async with self.sessions() as session:
            conn = await session.connection()
            sqlite = conn.dialect.name == "sqlite"
            posts = await self._senders(conn, batch)
            posts = await self._checked(conn, posts)
            posts, retried = await self._new(conn, posts)
            stored = await self._sequence(conn, posts, sqlite=sqlite)
            await self._insert(session, conn, stored, sqlite=sqlite)
            await session.commit()
        if stored:  # what the transaction stored: not the retries it answered, nor the posts it refused
            POST_BATCH_SIZE.observe(len(stored))
        MESSAGES_STORED.inc(len(stored))
        REPLIES_STORED.inc(sum(1 for p in stored if p.reply_to is not None))
        for post in stored:
            _resolve(post, Posted(post.msg_id, post.seq, post.ts, True))
        for post, first in retried:
            if isinstance(first, Posted):
                _resolve(post, first)
            elif first.msg_id:  # stored by this batch
                _resolve(post, Posted(first.msg_id, first.seq, first.ts, False))
            else:  # refused (its error went to the first post): the reference path answers this one
                _fail(post, PostAlone())

    async def _senders(self, conn: AsyncConnection, batch: list[Post]) -> list[Post]:
        hashes = sorted({p.token_hash for p in batch if p.token_hash})
        ids = sorted({p.device_id for p in batch if p.device_id and not p.token_hash})
        by_hash, by_id = {}, {}
        for device_id, user_id, token in await conn.execute(_SENDERS, {"hashes": hashes, "ids": ids}):
            by_hash[token] = by_id[device_id] = (device_id, user_id)
        found = []
        for post in batch:
            sender = by_hash.get(post.token_hash) if post.token_hash else by_id.get(post.device_id or "")
            if sender is None:
                _fail(post, Unauthorized("token is invalid or its device was revoked", code="invalid_token"))
                continue
            post.device_id, post.user_id = sender
            found.append(post)
        return found

    async def _checked(self, conn: AsyncConnection, posts: list[Post]) -> list[Post]:
        """Membership, federation and the recipient devices, from one read of the chats' rosters."""
        if not posts:
            return []
        state = self.settings.state
        members: defaultdict[str, set[str]] = defaultdict(set)
        devices: defaultdict[str, set[str]] = defaultdict(set)
        federated: set[str] = set()
        # Chats hosted elsewhere or with members homed elsewhere go the reference path (federation); on a
        # node without federation no such member or host row can exist, so the check costs nothing there.
        for row in await conn.execute(_ROSTER, {"chat_ids": sorted({p.chat_id for p in posts})}):
            chat_id, user_id, device_id = row[0], row[1], row[2]
            members[chat_id].add(user_id)
            if device_id is not None:
                devices[chat_id].add(device_id)
            if spans_states(user_id, row[3], state):
                federated.add(chat_id)
        checked = []
        for post in posts:
            try:
                if post.user_id not in members[post.chat_id]:
                    raise NotFound(f"chat {post.chat_id} not found", code="chat_not_found")
                if post.chat_id in federated:
                    raise PostAlone()
                check_ciphertext(self.settings, post.ciphertext)
                post.recipients = frozenset(devices[post.chat_id])
            except (ApiError, PostAlone) as exc:
                _fail(post, exc)
                continue
            checked.append(post)
        return checked

    async def _new(
        self, conn: AsyncConnection, posts: list[Post]
    ) -> tuple[list[Post], list[tuple[Post, Post | Posted]]]:
        """Split off retries: of a stored message (answered with it) or of a post earlier in this batch."""
        if not posts:
            return [], []
        params = {
            "chat_ids": sorted({p.chat_id for p in posts}),
            "client_ids": sorted({p.client_msg_id for p in posts}),
        }
        seen: dict[tuple[str, str, str], Post | Posted] = {
            (chat, device, client): Posted(msg_id, seq, ts, False)
            for chat, device, client, msg_id, seq, ts in await conn.execute(_STORED, params)
        }
        new, retried = [], []
        for post in posts:
            first = seen.get(post.key)
            if first is None:
                seen[post.key] = post
                new.append(post)
            else:
                retried.append((post, first))
        return new, retried

    async def _sequence(self, conn: AsyncConnection, posts: list[Post], *, sqlite: bool) -> list[Post]:
        """Lock the chats, give each post its chat's next seq (checking ``reply_to``), write them back."""
        if not posts:
            return []
        query = _CHAT_SEQS if sqlite else _CHAT_SEQS.with_for_update()
        last = dict((await conn.execute(query, {"ids": sorted({p.chat_id for p in posts})})).all())
        stored = []
        for post in posts:
            seq = last[post.chat_id] + 1
            if post.reply_to is not None and not 0 < post.reply_to < seq:
                _fail(
                    post,
                    BadRequest(
                        f"reply_to {post.reply_to} is not an earlier message of this chat",
                        code="invalid_reply",
                    ),
                )
                continue
            post.seq = last[post.chat_id] = seq
            stored.append(post)
        if stored:
            changed = {p.chat_id for p in stored}
            await conn.execute(_SET_CHAT_SEQ, [{"b_id": c, "b_seq": last[c]} for c in sorted(changed)])
        return stored

    async def _insert(
        self, session: AsyncSession, conn: AsyncConnection, posts: list[Post], *, sqlite: bool
    ) -> None:
        """Messages, and one ``message.new`` event per recipient device (cursors locked)."""
        if not posts:
            return
        ts = now()
        for post in posts:
            post.msg_id, post.ts = new_id("m"), ts
        await conn.execute(
            _INSERT_MESSAGE,
            [
                {
                    "id": p.msg_id,
                    "chat_id": p.chat_id,
                    "seq": p.seq,
                    "sender_user_id": p.user_id,
                    "sender_device_id": p.device_id,
                    "client_msg_id": p.client_msg_id,
                    "reply_to": p.reply_to,
                    "created_at": ts,
                    "ciphertext": p.ciphertext,
                    "session_id": p.session_id,
                }
                for p in posts
            ],
        )
        recipients = sorted({d for p in posts for d in p.recipients})
        if not recipients:
            return
        query = _DEVICE_SEQS if sqlite else _DEVICE_SEQS.with_for_update()
        cursor = dict((await conn.execute(query, {"ids": recipients})).all())
        events = []
        for post in posts:
            # The payload is messages.post_message's event object, the same for every device: its JSON
            # is built once per message.
            payload = json.dumps(
                {
                    "chat_id": post.chat_id,
                    "seq": post.seq,
                    "id": post.msg_id,
                    "sender": post.user_id,
                    "sender_device": post.device_id,
                    "client_msg_id": post.client_msg_id,
                    "reply_to": post.reply_to,
                    "ts": ts,
                    "session_id": post.session_id,
                    "ciphertext": post.ciphertext,
                }
            )
            for device_id in sorted(post.recipients):
                cursor[device_id] += 1
                events.append((device_id, cursor[device_id], "message.new", ts, payload))
        await conn.execute(_SET_DEVICE_SEQ, [{"b_id": d, "b_seq": cursor[d]} for d in recipients])
        await append_events(session, events)


def _resolve(post: Post, posted: Posted) -> None:
    if post.result is not None and not post.result.done():
        post.result.set_result(posted)


def _fail(post: Post, exc: BaseException) -> None:
    if post.result is not None and not post.result.done():
        post.result.set_exception(exc)
