"""Retention reaches channel posts (their own table) and leaves billed message counts intact.

On ``clock_node`` (an hour of group history and channel posts): the node's clock is moved past the
hour and the retention sweep run explicitly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from clock_helpers import DevClock
from waits import wait_for


async def test_retention_sweeps_channel_posts_and_keeps_message_counts(
    clock_node: Any, clock: DevClock, signup: Any
) -> None:
    alice, bob = await signup(node_=clock_node), await signup(node_=clock_node)
    group = await alice.create_group([bob.user_id], "short-lived")
    for i in range(3):
        await alice.send(group, f"note {i}")
    channel = await alice.request("POST", "/v1/channels", json={"title": "Ephemeral"})
    posts = f"/v1/channels/{channel['id']}/posts"
    post = await alice.request("POST", posts, json={"text": "driftwood bulletin"})
    await bob.request("PUT", f"/v1/channels/{channel['id']}/subscription")

    async def fanned_out() -> bool:
        stats = await alice.request("GET", f"{posts}/{post['seq']}/stats")
        return bool(stats["fanout_done"])

    await wait_for(fanned_out, what="the fan-out of the post (retention keeps posts still fanning out)")
    assert (await alice.request("GET", "/v1/usage"))["messages"] == 3
    found = await bob.request("GET", "/v1/search", params={"q": "driftwood", "kind": "posts"})
    assert [p["channel_id"] for p in found["posts"]] == [channel["id"]]

    await clock.advance(1800)
    await clock.sweep("retention")  # half an hour old: younger than the rule, kept
    assert len(await bob.request("GET", f"/v1/channels/{channel['id']}/posts")) == 1
    assert [m["deleted"] for m in await bob.history(group)] == [False, False, False]
    await clock.advance(1801)
    swept = await clock.sweep("retention")
    assert swept["messages"] >= 3 and swept["posts"] >= 1  # (and whatever older tests left on the node)
    assert await bob.request("GET", f"/v1/channels/{channel['id']}/posts") == []
    assert [m["deleted"] for m in await bob.history(group)] == [True, True, True]
    found = await bob.request("GET", "/v1/search", params={"q": "driftwood", "kind": "posts"})
    assert found["posts"] == []
    # messages are tombstoned, not deleted, so this period's bill still counts all three
    assert (await alice.request("GET", "/v1/usage"))["messages"] == 3
    fresh = await alice.request("POST", f"/v1/channels/{channel['id']}/posts", json={"text": "new tide"})
    assert [p["seq"] for p in await bob.request("GET", f"/v1/channels/{channel['id']}/posts")] == [
        fresh["seq"]
    ]


def test_misspelt_retention_kind_stops_the_node_at_start(tmp_path: Path) -> None:
    """``{"privat": 4}`` used to start a node that never swept anything."""
    env = {**os.environ, "MSGFLEET_RETENTION_RULES": '{"privat": 4, "group": 60}'}
    done = subprocess.run(
        [sys.executable, "-m", "messenger", "serve", "--state", "RU-MOW", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert done.returncode == 2, done.stderr
    line = done.stderr.strip()
    assert "\n" not in line and "MSGFLEET_RETENTION_RULES" in line
    assert "'privat'" in line and "channel, group, private" in line
    assert not (tmp_path / "node.db").exists()  # refused before migrating anything
