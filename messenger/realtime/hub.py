"""Wakes the sockets / long-polls of devices that have new events, in this process or via Redis pub/sub.

After a commit the hub also carries the committed event frames (``deliver``), so an open socket can send
them without reading the database. A socket only sends a pushed frame whose cursor is exactly the next one;
on any gap, a plain wake-up, or an overflow it reads the database by cursor. So a lost or reordered
push costs latency, never a message, and nothing is sent twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence

log = logging.getLogger("messenger.realtime")


PUSH_LIMIT = 256  # pushed frames a slow listener may queue before it falls back to the database
REDIS_PUSH_BYTES = 1_000_000  # larger deliveries cross Redis as plain wake-ups (readers use the database)


class Waiter:
    """One listener (socket or long-poll) of one device."""

    def __init__(self, device_id: str):
        self.device_id = device_id
        self.ready = asyncio.Event()
        self.revoked = False
        self.pushed: deque[tuple[int, str]] = deque()  # (cursor, frame text) pushed after commits
        self.stale = True  # read the database before trusting pushes (set by plain wake-ups, overflow)

    def push(self, frames: Iterable[tuple[int, str]]) -> None:
        if self.stale:
            return
        self.pushed.extend(frames)
        if len(self.pushed) > PUSH_LIMIT:
            self.pushed.clear()
            self.stale = True


class Hub:
    """In-process hub: wake-ups reach the listeners of this process only (one worker)."""

    def __init__(self) -> None:
        self._waiters: dict[str, set[Waiter]] = {}

    @contextlib.asynccontextmanager
    async def listen(self, device_id: str) -> AsyncIterator[Waiter]:
        waiter = Waiter(device_id)
        self._waiters.setdefault(device_id, set()).add(waiter)
        try:
            yield waiter
        finally:
            group = self._waiters.get(device_id)
            if group is not None:
                group.discard(waiter)
                if not group:
                    del self._waiters[device_id]

    def listening(self) -> set[str]:
        """Devices with an open socket or long-poll in this process (channel fan-out serves them first)."""
        return set(self._waiters)

    async def wake(self, device_ids: Iterable[str]) -> None:
        """Tell every listener of ``device_ids`` (in every process) to read its new events."""
        self._wake_local(device_ids)

    async def revoke(self, device_ids: Iterable[str]) -> None:
        """Close every listener of ``device_ids`` (in every process) at once."""
        self._revoke_local(device_ids)

    async def deliver(
        self, frames: Mapping[str, Sequence[tuple[int, str]]], wake: Iterable[str] = ()
    ) -> None:
        """Push committed event frames (device id → [(cursor, frame text)]) and wake ``wake``, everywhere."""
        self._push_local(frames)
        self._wake_local(wake)

    def _wake_local(self, device_ids: Iterable[str]) -> None:
        for device_id in device_ids:
            for waiter in self._waiters.get(device_id, ()):
                waiter.stale = True
                waiter.pushed.clear()
                waiter.ready.set()

    def _push_local(self, frames: Mapping[str, Sequence[tuple[int, str]]]) -> None:
        for device_id, items in frames.items():
            for waiter in self._waiters.get(device_id, ()):
                waiter.push(items)
                waiter.ready.set()

    def _revoke_local(self, device_ids: Iterable[str]) -> None:
        for device_id in device_ids:
            for waiter in self._waiters.get(device_id, ()):
                waiter.revoked = True
                waiter.ready.set()

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None


class RedisHub(Hub):
    """Fan-out across worker processes: wake-ups go through one Redis pub/sub channel per node."""

    def __init__(self, url: str, prefix: str):
        super().__init__()
        import redis.asyncio as redis

        self._redis = redis.from_url(url)
        self._channel = f"{prefix}:wake"
        self._task: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._listen(), name="redis-hub")
        await asyncio.wait_for(self._subscribed.wait(), timeout=10)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._redis.aclose()

    async def wake(self, device_ids: Iterable[str]) -> None:
        await self._redis.publish(self._channel, json.dumps({"wake": list(device_ids)}))

    async def revoke(self, device_ids: Iterable[str]) -> None:
        await self._redis.publish(self._channel, json.dumps({"revoke": list(device_ids)}))

    async def deliver(
        self, frames: Mapping[str, Sequence[tuple[int, str]]], wake: Iterable[str] = ()
    ) -> None:
        plain = list(wake)
        if sum(len(text) for items in frames.values() for _, text in items) > REDIS_PUSH_BYTES:
            plain.extend(frames)  # a big fan-out (large group, large ciphertexts): wake, let them read
            frames = {}
        body = {"push": {d: [list(item) for item in items] for d, items in frames.items()}, "wake": plain}
        await self._redis.publish(self._channel, json.dumps(body))

    async def _listen(self) -> None:
        while True:
            try:
                async with self._redis.pubsub() as pubsub:
                    await pubsub.subscribe(self._channel)
                    self._subscribed.set()
                    async for message in pubsub.listen():
                        if message["type"] != "message":
                            continue
                        body = json.loads(message["data"])
                        self._push_local(
                            {d: [(c, t) for c, t in items] for d, items in body.get("push", {}).items()}
                        )
                        self._wake_local(body.get("wake", ()))
                        self._revoke_local(body.get("revoke", ()))
            except asyncio.CancelledError:
                raise
            except Exception:  # a Redis hiccup must not kill delivery; wake everyone so they re-read
                log.exception("redis hub disconnected; retrying")
                self._wake_local(list(self._waiters))
                await asyncio.sleep(0.5)
