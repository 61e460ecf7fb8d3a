"""Reply threads over real HTTP: direct replies in order, decryptable, members only."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from messenger.client import ApiFailure, MessengerClient

Signup = Callable[..., Awaitable[MessengerClient]]


async def test_replies_list_direct_replies_in_order(signup: Signup) -> None:
    alice, bob, mallory = [await signup() for _ in range(3)]
    chat = await alice.create_group([bob.user_id], "thread")
    await alice.send(chat, "root")  # 1
    await bob.send(chat, "first answer", reply_to=1)  # 2
    await alice.send(chat, "unrelated")  # 3
    await alice.send(chat, "answer to the answer", reply_to=2)  # 4
    await alice.send(chat, "second answer", reply_to=1)  # 5
    await bob.delete(chat, 2)

    rows = await bob.request("GET", f"/v1/chats/{chat}/messages/1/replies")
    assert [(r["seq"], r["reply_to"], r["deleted"]) for r in rows] == [(2, 1, True), (5, 1, False)]
    assert await bob.decrypt(rows[1]) == "second answer" and rows[0]["ciphertext"] is None
    nested = await alice.request("GET", f"/v1/chats/{chat}/messages/2/replies")
    assert [r["seq"] for r in nested] == [4]
    page = await alice.request("GET", f"/v1/chats/{chat}/messages/1/replies", params={"after": 2})
    assert [r["seq"] for r in page] == [5]
    assert await alice.request("GET", f"/v1/chats/{chat}/messages/3/replies") == []

    with pytest.raises(ApiFailure) as err:
        await alice.request("GET", f"/v1/chats/{chat}/messages/99/replies")
    assert (err.value.status, err.value.error) == (404, "message_not_found")
    with pytest.raises(ApiFailure) as err:
        await mallory.request("GET", f"/v1/chats/{chat}/messages/1/replies")
    assert (err.value.status, err.value.error) == (404, "chat_not_found")
    with pytest.raises(ApiFailure) as err:
        await alice.request("GET", f"/v1/chats/{chat}/messages/1/replies", params={"limit": 0})
    assert err.value.status == 422
