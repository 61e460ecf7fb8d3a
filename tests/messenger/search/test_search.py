"""Full-text search over real HTTP (FTS5 on SQLite, tsvector on PostgreSQL) and the client's local search."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable

import pytest

from messenger.client import ApiFailure, MessengerClient
from messenger.client.search import search_history

Signup = Callable[..., Awaitable[MessengerClient]]


async def test_posts_channels_chats_files_are_found_only_by_those_who_may_see_them(signup: Signup) -> None:
    word = f"zq{secrets.token_hex(4)}"  # unique per run: the session's node is shared with other tests
    owner, reader, outsider = [await signup() for _ in range(3)]
    channel = (
        await owner.request(
            "POST", "/v1/channels", json={"title": f"Tech {word}", "description": "release notes"}
        )
    )["id"]
    await reader.request("PUT", f"/v1/channels/{channel}/subscription")
    await owner.request(
        "POST", f"/v1/channels/{channel}/posts", json={"text": f"Version 2 of {word} ships today"}
    )
    await owner.request(
        "POST", f"/v1/channels/{channel}/posts", json={"text": f"nothing about it, {word}less"}
    )
    await owner.request(
        "POST", f"/v1/channels/{channel}/posts", json={"text": f"{word.upper()} VERSION notes"}
    )
    group = await reader.create_group([owner.user_id], f"Planning {word} launch")
    await reader.request(
        "POST",
        "/v1/media",
        params={"kind": "document", "filename": f"{word}-budget final.txt", "chat_id": group},
        content=b"budget lines\n",
    )

    found = await reader.request("GET", "/v1/search", params={"q": f"{word} version"})
    assert sorted(p["seq"] for p in found["posts"]) == [1, 3]  # both words, any case; not "...less"
    assert all(p["channel_id"] == channel and "<b>" in p["snippet"] for p in found["posts"])
    assert found["channels"] == []  # the channel's title/description lack "version"
    only = await reader.request(
        "GET", "/v1/search", params={"q": word, "kind": ["channels", "chats", "files"]}
    )
    assert set(only) == {"channels", "chats", "files"}
    assert [c["id"] for c in only["channels"]] == [channel]
    assert [(c["id"], c["kind"]) for c in only["chats"]] == [(group, "group")]
    assert [f["filename"] for f in only["files"]] == [f"{word}-budget final.txt"]
    by_owner = await owner.request("GET", "/v1/search", params={"q": f"{word} budget", "kind": "files"})
    assert len(by_owner["files"]) == 1  # shared into the owner's chat

    # The outsider finds the public channel, but no posts (not subscribed), chats or files.
    theirs = await outsider.request("GET", "/v1/search", params={"q": word})
    assert (len(theirs["channels"]), theirs["posts"], theirs["chats"], theirs["files"]) == (1, [], [], [])

    # Query syntax is never interpreted: quotes, NEAR, stars, colons are just separators.
    odd = await reader.request(
        "GET", "/v1/search", params={"q": f'"{word}" NEAR* OR: version)', "kind": "posts"}
    )
    assert odd["posts"] == []  # "near" and "or" are words that no post contains
    for bad in ({"q": "  !!  "}, {"q": ""}, {"q": word, "kind": "messages"}, {"q": word, "limit": 0}):
        with pytest.raises(ApiFailure) as err:
            await reader.request("GET", "/v1/search", params=bad)
        assert err.value.status in (400, 422), bad
    with pytest.raises(ApiFailure) as err:
        await reader.request("GET", "/v1/search", params={"q": "!!"})
    assert err.value.error == "invalid_query"


async def test_encrypted_messages_are_searched_on_the_device_not_the_node(signup: Signup) -> None:
    word = f"zq{secrets.token_hex(4)}"
    alice, bob = await signup(), await signup()
    chat = await alice.open_private(bob.user_id)
    for text in (f"meet at {word} cafe", "see you", f"the {word} is closed", f"{word}"):
        await alice.send(chat, text)
    server = await bob.request("GET", "/v1/search", params={"q": word})
    assert all(v == [] for v in server.values())
    local = await search_history(bob, chat, f"{word.upper()} cafe")
    assert [r["text"] for r in local] == [f"meet at {word} cafe"]
    assert [r["seq"] for r in await search_history(bob, chat, word)] == [1, 3, 4]
