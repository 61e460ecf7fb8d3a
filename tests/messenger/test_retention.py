"""Event retention: old device events are pruned and a device resuming from before them is told ``gap``.

On ``clock_node``: its clock is moved 31 days on and the event pruning run explicitly (30 days kept)."""

from __future__ import annotations

from typing import Any

from clock_helpers import DevClock


async def test_pruned_events_are_reported_as_a_gap(clock_node: Any, clock: DevClock, signup: Any) -> None:
    alice, bob = await signup(node_=clock_node), await signup(node_=clock_node)
    chat = await alice.open_private(bob.user_id)
    await alice.send(chat, "old")
    assert [m["text"] for m in await bob.history(chat)] == ["old"]  # bob's device takes the room key
    assert (await bob.request("GET", "/v1/sync", params={"cursor": 0}))["gap"] is False
    await clock.advance(29 * 86400)
    await clock.sweep("events")  # 29 days old: kept
    kept = await bob.request("GET", "/v1/sync", params={"cursor": 0})
    assert kept["gap"] is False and "message.new" in [e["kind"] for e in kept["events"]]
    await clock.advance(2 * 86400)  # 31 days pass for the events written so far
    assert (await clock.sweep("events"))["events_removed"] >= 1
    await alice.send(chat, "new")
    result = await bob.request("GET", "/v1/sync", params={"cursor": 0})
    assert result["gap"] is True and [e["data"]["seq"] for e in result["events"]] == [2]
    async with bob.socket() as ws:  # bob.cursor is still 0
        assert ws.ready["gap"] is True
    bob.cursor = result["cursor"]
    async with bob.socket() as ws:
        assert ws.ready["gap"] is False
    assert [m["text"] for m in await bob.history(chat)] == ["old", "new"]  # history is not pruned
