"""Opaque ids. User ids carry their home state (``u<hex>@RU-MOW``); federation routes by the suffix."""

from __future__ import annotations

import secrets


def new_user_id(state: str) -> str:
    return f"u{secrets.token_hex(8)}@{state}"


DEVICE_ID = r"^d[0-9a-f]{16}$"  # new_id("d")


def new_id(prefix: str) -> str:
    """``d…`` devices, ``c…`` chats, ``m…`` messages: 64 random bits, unique in practice per node."""
    return f"{prefix}{secrets.token_hex(8)}"


def home_state(user_id: str) -> str:
    """The state suffix of a user id (``RU-MOW`` for ``u…@RU-MOW``)."""
    return user_id.rpartition("@")[2]


def spans_states(member_id: str, host_state: str | None, state: str) -> bool:
    """Whether a chat roster row (a member, the chat's host: ``None`` for this node) takes the chat
    beyond this node of ``state``: posts to it go through federation."""
    return home_state(member_id) != state or (host_state or state) != state
