"""Channels over real HTTP/WebSocket: owners post, every subscriber device receives, counts add up."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import insert, update
from sqlalchemy.ext.asyncio import create_async_engine
from waits import wait_for

from messenger.client import ApiFailure, MessengerClient
from messenger.db.models import Device, User
from messenger.db.models.channels import Channel, ChannelMember

Signup = Callable[..., Awaitable[MessengerClient]]


async def _stats_when_done(owner: MessengerClient, channel: str, seq: int) -> dict[str, Any]:
    async def done() -> dict[str, Any] | None:
        stats: dict[str, Any] = await owner.request("GET", f"/v1/channels/{channel}/posts/{seq}/stats")
        return stats if stats["fanout_done"] else None

    result: dict[str, Any] = await wait_for(done, what=f"the fan-out of post {seq} of channel {channel}")
    return result


async def test_post_reaches_every_subscriber_device_and_counts_add_up(signup: Signup) -> None:
    owner = await signup()
    channel = (await owner.request("POST", "/v1/channels", json={"title": "News", "description": "daily"}))[
        "id"
    ]
    subs = [await signup() for _ in range(4)]
    tablet = await signup(phone=subs[0].phone, device_name="tablet")  # a second device of one subscriber
    for sub in subs:
        await sub.request("PUT", f"/v1/channels/{channel}/subscription")
    await subs[0].request("PUT", f"/v1/channels/{channel}/subscription")  # idempotent
    info = await subs[1].request("GET", f"/v1/channels/{channel}")
    assert (info["subscribers"], info["role"]) == (5, "subscriber")

    readers = [*subs, tablet]
    sockets = [r.socket(resume=False) for r in readers]
    async with sockets[0] as s0, sockets[1] as s1, sockets[2] as s2, sockets[3] as s3, sockets[4] as s4:
        posted = await owner.request(
            "POST", f"/v1/channels/{channel}/posts", json={"text": "hello subscribers"}
        )
        frames = await asyncio.gather(*(s.next("channel.post") for s in (s0, s1, s2, s3, s4)))
        with pytest.raises(TimeoutError):  # online devices are served first, and only once
            await s4.next("channel.post", timeout=0.5)
    assert posted["seq"] == 1
    assert {(f["data"]["text"], f["data"]["seq"], f["data"]["channel_id"]) for f in frames} == {
        ("hello subscribers", 1, channel)
    }

    # Each subscriber device: 4 users (one with 2 devices) + the owner's device = 6 devices, 5 members.
    stats = await _stats_when_done(owner, channel, 1)
    assert (stats["members"], stats["delivered_members"], stats["delivered_devices"]) == (5, 5, 6)
    assert stats["read"] == 0
    await owner.request("POST", f"/v1/channels/{channel}/posts", json={"text": "second"})
    await subs[0].request("POST", f"/v1/channels/{channel}/read", json={"seq": 2})
    await subs[1].request("POST", f"/v1/channels/{channel}/read", json={"seq": 1})
    assert (await _stats_when_done(owner, channel, 1))["read"] == 2
    assert (await _stats_when_done(owner, channel, 2))["read"] == 1
    metrics = (await owner.http.get("/metrics")).text
    delivered = [
        line for line in metrics.splitlines() if line.startswith("msgfleet_channel_deliveries_total ")
    ]
    assert delivered and float(delivered[0].split()[1]) >= 12  # 6 devices x 2 posts, at least (shared node)
    rows = await subs[2].request("GET", f"/v1/channels/{channel}/posts", params={"after": 1})
    assert [(r["seq"], r["text"], r["author"]) for r in rows] == [(2, "second", owner.user_id)]

    # Unsubscribed users get nothing more and may not read posts.
    await subs[3].request("DELETE", f"/v1/channels/{channel}/subscription")
    with pytest.raises(ApiFailure) as err:
        await subs[3].request("GET", f"/v1/channels/{channel}/posts")
    assert (err.value.status, err.value.error) == (403, "not_subscribed")
    await owner.request("POST", f"/v1/channels/{channel}/posts", json={"text": "third"})
    third = await _stats_when_done(owner, channel, 3)
    assert (third["members"], third["delivered_members"], third["delivered_devices"]) == (4, 4, 5)


async def test_only_owners_post_and_see_stats(signup: Signup) -> None:
    owner, sub, stranger, second_owner = [await signup() for _ in range(4)]
    channel = (await owner.request("POST", "/v1/channels", json={"title": "Owners"}))["id"]
    await sub.request("PUT", f"/v1/channels/{channel}/subscription")
    for client, code in ((sub, "not_owner"), (stranger, "not_subscribed")):
        with pytest.raises(ApiFailure) as err:
            await client.request("POST", f"/v1/channels/{channel}/posts", json={"text": "x"})
        assert (err.value.status, err.value.error) == (403, code)
    with pytest.raises(ApiFailure) as err:
        await owner.request("POST", f"/v1/channels/{channel}/posts", json={"text": "x" * 4097})
    assert err.value.status == 422
    with pytest.raises(ApiFailure) as err:
        await owner.request("POST", "/v1/channels/hnope/posts", json={"text": "x"})
    assert (err.value.status, err.value.error) == (404, "channel_not_found")
    with pytest.raises(ApiFailure) as err:
        await sub.request("PUT", f"/v1/channels/{channel}/owners/{sub.user_id}")
    assert err.value.error == "not_owner"
    with pytest.raises(ApiFailure) as err:
        await owner.request("DELETE", f"/v1/channels/{channel}/subscription")
    assert (err.value.status, err.value.error) == (409, "last_owner")

    await owner.request("PUT", f"/v1/channels/{channel}/owners/{second_owner.user_id}")
    await second_owner.request("POST", f"/v1/channels/{channel}/posts", json={"text": "by the second owner"})
    stats = await _stats_when_done(second_owner, channel, 1)
    assert stats["delivered_members"] == 3
    with pytest.raises(ApiFailure) as err:
        await sub.request("GET", f"/v1/channels/{channel}/posts/1/stats")
    assert (err.value.status, err.value.error) == (403, "not_owner")
    with pytest.raises(ApiFailure) as err:
        await sub.request("POST", f"/v1/channels/{channel}/read", json={"seq": 9})
    assert err.value.error == "invalid_seq"
    await owner.request(
        "DELETE", f"/v1/channels/{channel}/subscription"
    )  # now allowed: another owner remains
    assert [c["id"] for c in await owner.request("GET", "/v1/channels")] == []


async def test_large_channel_is_delivered_in_batches_after_the_post_returns(
    signup: Signup, trust_node: Any
) -> None:
    """4,500 subscribers (seeded in the node's database: signing up each would take minutes) with one device
    each: the post is acknowledged before its fan-out (three batches of 2,000) is done, then reaches all."""
    owner = await signup(node_=trust_node)
    channel = (await owner.request("POST", "/v1/channels", json={"title": "Big"}))["id"]
    n, ts = 4500, time.time()
    engine = create_async_engine(trust_node.db_url)
    async with engine.begin() as conn:
        prefix = secrets.token_hex(3)
        users = [f"ubig{prefix}{i:05d}@RU-MOW" for i in range(n)]
        await conn.execute(
            insert(User),
            [{"id": u, "phone": f"+79960{i:06d}", "created_at": ts} for i, u in enumerate(users)],
        )
        await conn.execute(
            insert(Device),
            [
                {
                    "id": f"dbig{prefix}{i:05d}",
                    "user_id": u,
                    "name": "d",
                    "platform": "p",
                    "token_hash": secrets.token_hex(32),
                    "created_at": ts,
                    "event_seq": 0,
                }
                for i, u in enumerate(users)
            ],
        )
        await conn.execute(
            insert(ChannelMember),
            [
                {
                    "channel_id": channel,
                    "user_id": u,
                    "role": "subscriber",
                    "joined_at": ts,
                    "last_read_seq": 0,
                }
                for u in users
            ],
        )
        await conn.execute(
            update(Channel).where(Channel.id == channel).values(subscribers=Channel.subscribers + n)
        )
    await engine.dispose()

    # The owner's device is online: served before the batches when its socket is on the posting worker.
    async with owner.socket(resume=False) as ws:
        await owner.request("POST", f"/v1/channels/{channel}/posts", json={"text": "to everyone"})
        early = await owner.request("GET", f"/v1/channels/{channel}/posts/1/stats")
        assert not early["fanout_done"] and early["delivered_members"] < n + 1
        assert early["delivered_members"] % 2000 == 0  # whole batches only
        assert (await ws.next("channel.post"))["data"]["text"] == "to everyone"
        final = await _stats_when_done(owner, channel, 1)
        with pytest.raises(TimeoutError):
            await ws.next("channel.post", timeout=0.3)  # and only once
    assert (final["members"], final["delivered_members"], final["delivered_devices"]) == (n + 1, n + 1, n + 1)
    assert final["fanout_seconds"] > 0
