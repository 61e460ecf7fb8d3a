"""Retention reaches channel posts (their own table) and leaves billed message counts intact."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any


async def test_retention_sweeps_channel_posts_and_keeps_message_counts(retnode: Any, signup: Any) -> None:
    alice, bob = await signup(node_=retnode), await signup(node_=retnode)
    group = await alice.create_group([bob.user_id], "short-lived")
    for i in range(3):
        await alice.send(group, f"note {i}")
    channel = await alice.request("POST", "/v1/channels", json={"title": "Ephemeral"})
    posted = time.time()
    await alice.request("POST", f"/v1/channels/{channel['id']}/posts", json={"text": "driftwood bulletin"})
    await bob.request("PUT", f"/v1/channels/{channel['id']}/subscription")
    assert (await alice.request("GET", "/v1/usage"))["messages"] == 3
    found = await bob.request("GET", "/v1/search", params={"q": "driftwood", "kind": "posts"})
    assert [p["channel_id"] for p in found["posts"]] == [channel["id"]]

    while time.time() < posted + 20:
        posts = await bob.request("GET", f"/v1/channels/{channel['id']}/posts")
        history = await bob.history(group)
        if not posts and all(m["deleted"] for m in history):
            break
        await asyncio.sleep(0.3)
    assert time.time() >= posted + 2  # swept once older than the rule, not before
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
