"""Location sharing and the chat map over real HTTP/WebSocket: live expiry, GeoJSON shape, permissions."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from messenger.client import ApiFailure, MessengerClient

Signup = Callable[..., Awaitable[MessengerClient]]


async def _group(signup: Signup) -> tuple[MessengerClient, MessengerClient, MessengerClient, str]:
    alice, bob, carol = [await signup() for _ in range(3)]
    return alice, bob, carol, await alice.create_group([bob.user_id, carol.user_id], "walk")


async def test_map_has_latest_fresh_location_per_member(signup: Signup) -> None:
    alice, bob, carol, chat = await _group(signup)
    base = f"/v1/chats/{chat}"
    await alice.request("POST", f"{base}/locations", json={"lat": 55.75, "lon": 37.61})
    await alice.request("POST", f"{base}/locations", json={"lat": 55.76, "lon": 37.62, "accuracy_m": 5})
    async with carol.socket(resume=False) as ws:
        live = await bob.request(
            "POST", f"{base}/locations", json={"lat": 59.93, "lon": 30.31, "live_seconds": 600}
        )
        moved = await bob.request("PUT", f"{base}/locations/live", json={"lat": 59.94, "lon": 30.32})
        shared, updated = await ws.next("location.shared"), await ws.next("location.updated")
    assert shared["data"]["user_id"] == bob.user_id and shared["data"]["live"] is True
    assert (updated["data"]["lat"], updated["data"]["lon"]) == (59.94, 30.32)
    assert live["expires_at"] == pytest.approx(live["ts"] + 600)
    assert moved["expires_at"] == live["expires_at"] and moved["id"] == live["id"]

    fc = await carol.request("GET", f"{base}/map")
    assert fc["type"] == "FeatureCollection"
    points = {f["properties"]["user_id"]: f["geometry"]["coordinates"] for f in fc["features"]}
    assert points == {alice.user_id: [37.62, 55.76], bob.user_id: [30.32, 59.94]}  # [lon, lat], RFC 7946
    assert all(f["type"] == "Feature" and f["geometry"]["type"] == "Point" for f in fc["features"])

    # Stopping the live location drops bob from the map; a member who leaves drops out too.
    await bob.request("DELETE", f"{base}/locations/live")
    await alice.request("DELETE", f"{base}/members/{alice.user_id}")
    assert (await carol.request("GET", f"{base}/map"))["features"] == []


async def test_live_location_hides_older_one_off_and_minimum_is_enforced(signup: Signup) -> None:
    alice, bob, _carol, chat = await _group(signup)
    base = f"/v1/chats/{chat}"
    await bob.request("POST", f"{base}/locations", json={"lat": 1.0, "lon": 2.0})  # one-off: never expires
    await bob.request("POST", f"{base}/locations", json={"lat": 3.0, "lon": 4.0, "live_seconds": 60})
    coords = [f["geometry"]["coordinates"] for f in (await alice.request("GET", f"{base}/map"))["features"]]
    assert coords == [[4.0, 3.0]]
    # A live location shorter than the minimum is refused rather than silently extended.
    with pytest.raises(ApiFailure) as err:
        await bob.request("POST", f"{base}/locations", json={"lat": 3.0, "lon": 4.0, "live_seconds": 5})
    assert err.value.status == 422


async def test_expired_live_location_update_is_410_and_map_falls_back(signup: Signup, node: Any) -> None:
    alice, bob, _carol, chat = await _group(signup)
    base = f"/v1/chats/{chat}"
    await bob.request("POST", f"{base}/locations", json={"lat": 1.0, "lon": 2.0})
    live = await bob.request("POST", f"{base}/locations", json={"lat": 3.0, "lon": 4.0, "live_seconds": 60})
    # Let the 60 s pass without sleeping: move the stored expiry into the past (as the clock would).
    engine = create_async_engine(node.db_url)
    async with engine.begin() as conn:
        await conn.execute(
            text("UPDATE locations SET expires_at = :t WHERE id = :id"),
            {"t": time.time() - 1, "id": live["id"]},
        )
    await engine.dispose()
    with pytest.raises(ApiFailure) as err:
        await bob.request("PUT", f"{base}/locations/live", json={"lat": 5.0, "lon": 6.0})
    assert (err.value.status, err.value.error) == (410, "live_location_expired")
    coords = [f["geometry"]["coordinates"] for f in (await alice.request("GET", f"{base}/map"))["features"]]
    assert coords == [[2.0, 1.0]]  # the latest non-expired one
    with pytest.raises(ApiFailure) as err:
        await alice.request("PUT", f"{base}/locations/live", json={"lat": 5.0, "lon": 6.0})
    assert (err.value.status, err.value.error) == (404, "live_location_not_found")


async def test_non_member_and_bad_input(signup: Signup) -> None:
    alice, _bob, _carol, chat = await _group(signup)
    mallory = await signup()
    base = f"/v1/chats/{chat}"
    for method, path, body in (
        ("GET", f"{base}/map", None),
        ("POST", f"{base}/locations", {"lat": 1, "lon": 1}),
        ("PUT", f"{base}/locations/live", {"lat": 1, "lon": 1}),
    ):
        with pytest.raises(ApiFailure) as err:
            await mallory.request(method, path, json=body)
        assert (err.value.status, err.value.error) == (404, "chat_not_found")
    for bad in ({"lat": 91, "lon": 0}, {"lat": 0, "lon": -181}, {"lat": 0}, {"lat": 0, "lon": 0, "alt": 1}):
        with pytest.raises(ApiFailure) as err:
            await alice.request("POST", f"{base}/locations", json=bad)
        assert err.value.status == 422
    with pytest.raises(ApiFailure) as err:
        await alice.request(
            "POST", f"{base}/locations", content=b"lat=1", headers={"content-type": "text/plain"}
        )
    assert err.value.status in (400, 422)
    assert (await alice.request("GET", f"{base}/map"))["features"] == []  # nothing half-stored
