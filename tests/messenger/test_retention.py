"""Event retention: old device events are pruned and a device resuming from before them is told ``gap``."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from messenger.client import MessengerClient, sms_file_reader


async def test_pruned_events_are_reported_as_a_gap(node_factory: Callable[..., Any]) -> None:
    node = node_factory(MSGFLEET_EVENT_PRUNE_INTERVAL_SECONDS="0.2")
    read = sms_file_reader(node.sms_path)
    alice = await MessengerClient.login(node.url, "+79997770001", read)
    bob = await MessengerClient.login(node.url, "+79997770002", read)
    try:
        chat = await alice.open_private(bob.user_id)
        await alice.send(chat, "old")
        engine = create_async_engine(node.db_url)
        async with engine.begin() as conn:  # 31 days pass for the events written so far
            await conn.execute(text("UPDATE device_events SET created_at = created_at - 31 * 86400"))
        for _ in range(50):
            async with engine.connect() as conn:
                left = (await conn.execute(text("SELECT count(*) FROM device_events"))).scalar_one()
            if left == 0:
                break
            await asyncio.sleep(0.2)
        await engine.dispose()
        assert left == 0
        await alice.send(chat, "new")
        result = await bob.request("GET", "/v1/sync", params={"cursor": 0})
        assert result["gap"] is True and [e["data"]["seq"] for e in result["events"]] == [2]
        async with bob.socket() as ws:  # bob.cursor is still 0
            assert ws.ready["gap"] is True
        bob.cursor = result["cursor"]
        async with bob.socket() as ws:
            assert ws.ready["gap"] is False
        assert [m["text"] for m in await bob.history(chat)] == ["old", "new"]  # history is not pruned
    finally:
        await alice.close()
        await bob.close()
