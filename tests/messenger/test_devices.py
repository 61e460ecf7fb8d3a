"""Devices: listing, revoking (token dead at once, open socket closed), second factor at login."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pyotp
import pytest
from websockets.exceptions import ConnectionClosed

from messenger.client import ApiFailure, MessengerClient, sms_file_reader

Signup = Callable[..., Awaitable[MessengerClient]]


async def test_devices_are_listed_and_revoked_with_their_socket(signup: Signup) -> None:
    phone_client = await signup(device_name="phone")
    laptop = await signup(phone=phone_client.phone, device_name="laptop")
    listed = await phone_client.request("GET", "/v1/devices")
    assert sorted((d["name"], d["current"]) for d in listed) == [("laptop", False), ("phone", True)]
    async with laptop.socket() as ws:
        await phone_client.request("DELETE", f"/v1/devices/{laptop.device_id}")
        with pytest.raises(ConnectionClosed) as closed:
            await ws.next(timeout=60)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
    with pytest.raises(ApiFailure) as err:
        await laptop.request("GET", "/v1/devices")
    assert (err.value.status, err.value.error) == (401, "invalid_token")
    assert [d["name"] for d in await phone_client.request("GET", "/v1/devices")] == ["phone"]


async def test_revoked_device_no_longer_receives_or_is_a_recipient(signup: Signup) -> None:
    alice, bob = await signup(), await signup()
    bob_old = await signup(phone=bob.phone, device_name="old")
    chat = await alice.open_private(bob.user_id)
    await bob.request("DELETE", f"/v1/devices/{bob_old.device_id}")
    devices = await alice.chat_devices(chat)
    assert bob_old.device_id not in devices and bob.device_id in devices


async def test_revoked_token_fails_at_once_on_the_core_reads(signup: Signup, node: Any) -> None:
    """The chat list, channels, chat devices and the socket check the token inside their own statement
    (messenger/services/reads.py): a revoked device with chats and channels gets 401 / 4401 on every
    worker the moment the revoke returns, and a user with nothing yet gets empty lists, not 401."""
    from websockets.asyncio.client import connect

    alice, bob = await signup(), await signup()
    alice_old = await signup(phone=alice.phone, device_name="old")
    chat = await alice.open_private(bob.user_id)
    await alice.request("POST", "/v1/channels", json={"title": "news"})
    reads = ["/v1/chats", "/v1/channels", f"/v1/chats/{chat}/devices"]
    assert all([await alice_old.request("GET", path) for path in reads])
    fresh = await signup()
    assert [await fresh.request("GET", path) for path in reads[:2]] == [[], []]
    await alice.request("DELETE", f"/v1/devices/{alice_old.device_id}")
    for _ in range(4):  # on PostgreSQL the requests land on both workers
        for path in reads:
            with pytest.raises(ApiFailure) as err:
                await alice_old.request("GET", path)
            assert (err.value.status, err.value.error) == (401, "invalid_token"), path
        url = node.url.replace("http", "ws") + "/v1/ws"
        async with connect(url, additional_headers={"Authorization": f"Bearer {alice_old.token}"}) as ws:
            with pytest.raises(ConnectionClosed) as closed:
                await ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
    assert len(await alice.request("GET", f"/v1/chats/{chat}/devices")) == 2


async def test_cannot_revoke_another_users_device(signup: Signup) -> None:
    alice, bob = await signup(), await signup()
    with pytest.raises(ApiFailure) as err:
        await alice.request("DELETE", f"/v1/devices/{bob.device_id}")
    assert err.value.status == 404
    assert len(await bob.request("GET", "/v1/devices")) == 1


async def test_socket_with_bad_token_is_closed_4401(node: Any) -> None:
    from websockets.asyncio.client import connect

    url = node.url.replace("http", "ws") + "/v1/ws"
    async with connect(url, additional_headers={"Authorization": "Bearer nope"}) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401


async def test_totp_second_factor_is_required_after_enabling(signup: Signup, node: Any) -> None:
    user = await signup()
    secret = (await user.request("POST", "/v1/account/2fa/totp"))["secret"]
    await user.request("POST", "/v1/account/2fa/totp/confirm", json={"otp": pyotp.TOTP(secret).now()})
    assert (await user.request("GET", "/v1/account"))["totp"] is True
    read = sms_file_reader(node.sms_path)
    with pytest.raises(ApiFailure) as err:
        await MessengerClient.login(node.url, user.phone, read)
    assert err.value.error == "second_factor_required"
    with pytest.raises(ApiFailure) as err:
        await MessengerClient.login(
            node.url, user.phone, read, otp="000000" if pyotp.TOTP(secret).now() != "000000" else "111111"
        )
    assert err.value.error == "second_factor_invalid"
    second = await MessengerClient.login(node.url, user.phone, read, otp=pyotp.TOTP(secret).now())
    assert second.user_id == user.user_id
    await second.close()


async def test_pin_second_factor_and_disable(signup: Signup, node: Any) -> None:
    user = await signup()
    await user.request("PUT", "/v1/account/2fa/pin", json={"pin": "4821"})
    read = sms_file_reader(node.sms_path)
    with pytest.raises(ApiFailure) as err:
        await MessengerClient.login(node.url, user.phone, read, otp="1111")
    assert err.value.error == "second_factor_invalid"
    second = await MessengerClient.login(node.url, user.phone, read, otp="4821")
    await second.request("POST", "/v1/account/2fa/disable", json={"otp": "4821"})
    third = await MessengerClient.login(node.url, user.phone, read)
    assert third.user_id == second.user_id == user.user_id
    await second.close()
    await third.close()


async def test_totp_confirm_needs_a_valid_code(signup: Signup) -> None:
    user = await signup()
    with pytest.raises(ApiFailure) as err:
        await user.request("POST", "/v1/account/2fa/totp/confirm", json={"otp": "123456"})
    assert err.value.error == "no_pending_totp"
    await user.request("POST", "/v1/account/2fa/totp")
    with pytest.raises(ApiFailure) as err:
        await user.request("POST", "/v1/account/2fa/totp/confirm", json={"otp": "12"})
    assert err.value.status == 422
    assert (await user.request("GET", "/v1/account"))["totp"] is False
