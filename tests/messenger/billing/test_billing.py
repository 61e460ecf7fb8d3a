"""Tariffs and bills over HTTP: plans from MSGFLEET_TARIFFS, usage of calls and messages, pools."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from call_helpers import TARIFFS, act, next_kind, start_call

from messenger.client import ApiFailure, MessengerClient

Signup = Callable[..., Awaitable[MessengerClient]]


async def test_plans_come_from_the_tariff_setting(signup: Signup) -> None:
    alice = await signup()
    listed = await alice.request("GET", "/v1/tariffs")
    assert [p["name"] for p in listed["plans"]] == [p["name"] for p in TARIFFS["plans"]]
    assert listed["minute_rounding"] == "per_minute_up" and listed["price_per_extra_minute"] == 1.0
    mine = await alice.request("GET", "/v1/tariff")
    assert (mine["plan"], mine["subscription_id"], mine["members"]) == ("basic", None, [alice.user_id])


async def test_bill_from_recorded_minutes_and_messages(signup: Signup) -> None:
    alice, bob = await signup(), await signup()
    chat = await alice.open_private(bob.user_id)
    for i in range(5):
        await alice.send(chat, f"m{i}")
    await bob.send(chat, "reply")
    call = await start_call(alice, chat)
    await act(bob, call["id"], "accept")
    await act(alice, call["id"], "hangup")
    usage = await alice.request("GET", "/v1/usage")
    assert (usage["messages"], usage["minutes"], usage["calls"]) == (5, 1, 1)
    bill = usage["bill"]
    # basic: 0 minutes and 2 messages included, 2.50 per extra minute, 500 per 1,000 extra messages.
    assert (bill["extra_minutes"], bill["extra_messages"]) == (1, 3)
    assert (bill["minutes_charge"], bill["messages_charge"], bill["total"]) == ("2.50", "1.50", "4.00")
    bob_usage = await bob.request("GET", "/v1/usage")
    assert (bob_usage["messages"], bob_usage["bill"]["total"]) == (1, "2.50")
    other = await alice.request("GET", "/v1/usage", params={"period": "2020-01"})
    assert (other["minutes"], other["messages"], other["bill"]["total"]) == (0, 0, "0.00")


async def test_family_pool_shares_one_allowance(signup: Signup) -> None:
    owner, kid, partner, fourth, outsider = [await signup() for _ in range(5)]
    pool = await owner.request("PUT", "/v1/tariff", json={"plan": "family"})
    assert (pool["plan"], pool["kind"], pool["owner"], pool["max_members"]) == (
        "family",
        "family",
        owner.user_id,
        3,
    )
    async with kid.socket(resume=False) as kid_ws:
        for member in (kid, partner):
            pool = await owner.request("POST", "/v1/tariff/members", json={"user_id": member.user_id})
        offer = await next_kind(kid_ws, "tariff.invited")
    assert offer["data"] == {
        "subscription_id": pool["subscription_id"],
        "owner": owner.user_id,
        "plan": "family",
    }
    assert (pool["members"], pool["pending"]) == ([owner.user_id], sorted([kid.user_id, partner.user_id]))
    with pytest.raises(ApiFailure) as full:  # two members would make four with the owner
        await owner.request("POST", "/v1/tariff/members", json={"user_id": fourth.user_id})
    assert (full.value.status, full.value.error) == (409, "pool_full")
    # Until they accept, the owner sees nothing of their usage.
    assert list((await owner.request("GET", "/v1/usage"))["members"]) == [owner.user_id]
    assert (await kid.request("GET", "/v1/tariff"))["invitations"] == [offer["data"]]
    with pytest.raises(ApiFailure) as uninvited:
        await fourth.request(
            "POST", "/v1/tariff/invitations/accept", json={"subscription_id": pool["subscription_id"]}
        )
    assert (uninvited.value.status, uninvited.value.error) == (404, "invite_not_found")
    await kid.request("PUT", "/v1/tariff", json={"plan": "solo"})  # an own plan ends when joining a pool
    for member in (kid, partner):
        joined = await member.request(
            "POST", "/v1/tariff/invitations/accept", json={"subscription_id": pool["subscription_id"]}
        )
    assert joined["members"] == [owner.user_id, kid.user_id, partner.user_id] and joined["plan"] == "family"
    with pytest.raises(ApiFailure) as not_owner:
        await kid.request("POST", "/v1/tariff/members", json={"user_id": outsider.user_id})
    assert (not_owner.value.status, not_owner.value.error) == (403, "not_allowed")
    with pytest.raises(ApiFailure) as shrink:
        await owner.request("PUT", "/v1/tariff", json={"plan": "solo"})
    assert (shrink.value.status, shrink.value.error) == (409, "too_many_members")
    with pytest.raises(ApiFailure) as stranger:
        await outsider.request("DELETE", f"/v1/tariff/members/{kid.user_id}")
    assert stranger.value.status == 404

    chat = await kid.open_private(partner.user_id)
    call = await start_call(kid, chat)
    await act(partner, call["id"], "accept")
    await act(kid, call["id"], "hangup")
    for i in range(4):
        await kid.send(chat, f"k{i}")
    owner_view = await owner.request("GET", "/v1/usage")
    # Pool: 1 + 1 minutes against 1 included (plan), 4 messages against 3 × 3,000 (free tier per member).
    bill = owner_view["bill"]
    assert (bill["included_minutes"], bill["included_messages"]) == (1, 9000)
    assert (bill["used_minutes"], bill["used_messages"], bill["extra_minutes"]) == (2, 4, 1)
    assert bill["price_per_extra_minute"] == 1.0  # the policy's price: the plan sets none
    assert (bill["monthly_fee"], bill["minutes_charge"], bill["total"]) == ("9.99", "1.00", "10.99")
    assert owner_view["members"][kid.user_id]["messages"] == 4
    kid_view = await kid.request("GET", "/v1/usage")
    assert kid_view["members"] is None and kid_view["bill"]["total"] == "10.99"
    assert kid_view["pool"]["subscription_id"] == owner_view["pool"]["subscription_id"]

    await partner.request("DELETE", "/v1/tariff/members/me")
    assert (await partner.request("GET", "/v1/tariff"))["plan"] == "basic"
    assert (await owner.request("GET", "/v1/usage"))["bill"]["used_minutes"] == 1


async def test_bad_tariff_requests(signup: Signup) -> None:
    alice = await signup()
    cases = [
        ("PUT", "/v1/tariff", {"json": {"plan": "platinum"}}, 404, "plan_not_found"),
        ("PUT", "/v1/tariff", {"json": {"plan": "solo", "x": 1}}, 422, "validation_error"),
        ("POST", "/v1/tariff/members", {"json": {"user_id": "u0000000000000000@RU-MOW"}}, 403, "not_allowed"),
        (
            "POST",
            "/v1/tariff/invitations/accept",
            {"json": {"subscription_id": "s0"}},
            404,
            "invite_not_found",
        ),
        ("POST", "/v1/tariff/invitations/decline", {"json": {}}, 422, "validation_error"),
        ("GET", "/v1/usage", {"params": {"period": "2026-13"}}, 400, "invalid_period"),
        ("GET", "/v1/usage", {"params": {"period": "last month"}}, 400, "invalid_period"),
        ("DELETE", "/v1/tariff/members/me", {}, 404, "member_not_found"),
    ]
    for method, path, kwargs, status, code in cases:
        with pytest.raises(ApiFailure) as bad:
            await alice.request(method, path, **kwargs)
        assert (bad.value.status, bad.value.error) == (status, code), (method, path, kwargs)
    assert (await alice.request("GET", "/v1/tariff"))["subscription_id"] is None  # nothing half-done
    await alice.request("PUT", "/v1/tariff", json={"plan": "family"})
    with pytest.raises(ApiFailure) as unknown:
        await alice.request("POST", "/v1/tariff/members", json={"user_id": "u0000000000000000@RU-MOW"})
    assert (unknown.value.status, unknown.value.error) == (404, "user_not_found")
    with pytest.raises(ApiFailure) as owner_leaves:
        await alice.request("DELETE", "/v1/tariff/members/me")
    assert (owner_leaves.value.status, owner_leaves.value.error) == (409, "owner_cannot_leave")
    assert (await alice.request("GET", "/v1/tariff"))["members"] == [alice.user_id]


async def test_declined_invitation_leaves_both_pools_unchanged(signup: Signup) -> None:
    owner, friend = await signup(), await signup()
    pool = await owner.request("PUT", "/v1/tariff", json={"plan": "family"})
    await owner.request("POST", "/v1/tariff/members", json={"user_id": friend.user_id})
    invite = {"subscription_id": pool["subscription_id"]}
    await friend.request("POST", "/v1/tariff/invitations/decline", json=invite)
    with pytest.raises(ApiFailure) as gone:
        await friend.request("POST", "/v1/tariff/invitations/accept", json=invite)
    assert (gone.value.status, gone.value.error) == (404, "invite_not_found")
    assert (await owner.request("GET", "/v1/tariff"))["pending"] == []
    mine = await friend.request("GET", "/v1/tariff")
    assert (mine["plan"], mine["invitations"]) == ("basic", [])
