"""Accounts under attack: parallel code guesses and logins, second-factor brute force and takeover, login
floods, the database pool running dry, TOTP secrets at rest (docs/SECURITY.md "A user and a stolen device").

Parallel requests go through ``httpx`` at once (``asyncio.gather``); on PostgreSQL with two workers they
really run side by side, which is where the old read-then-write code let them all through.
"""

from __future__ import annotations

import asyncio
import secrets
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pyotp
import pytest

from messenger.client import ApiFailure, MessengerClient, sms_file_reader
from messenger.sms import last_code

Sql = Callable[..., Awaitable[list[Any]]]
Signup = Callable[..., Awaitable[MessengerClient]]
PARALLEL = 15


def new_phone() -> str:
    return f"+7997{secrets.randbelow(10**7):07d}"


def verify_body(number: str, code: str, **extra: str) -> dict[str, str]:
    return {"phone": number, "code": code, "device_name": "race", "platform": "pytest", **extra}


async def _parallel(url: str, method: str, path: str, bodies: list[dict[str, Any]], **kw: Any) -> list[Any]:
    limits = httpx.Limits(max_connections=len(bodies))
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits, **kw) as http:
        return list(await asyncio.gather(*(http.request(method, path, json=b) for b in bodies)))


async def _code_for(url: str, sms_path: Any, number: str) -> str:
    async with httpx.AsyncClient(base_url=url) as http:
        assert (await http.post("/v1/auth/request-code", json={"phone": number})).status_code == 202
    code = last_code(sms_path, number)
    assert code is not None
    return code


def _errors(responses: list[httpx.Response]) -> Counter[tuple[int, str]]:
    return Counter((r.status_code, r.json().get("error", "ok")) for r in responses)


# What the losers of a race for one right code hear: it was used, or its attempts were all taken.
LOSERS = {(400, "no_code"), (403, "code_locked")}


async def test_parallel_wrong_guesses_are_counted_against_the_limit(node: Any) -> None:
    number = new_phone()
    code = await _code_for(node.url, node.sms_path, number)
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    responses = await _parallel(node.url, "POST", "/v1/auth/verify", [verify_body(number, wrong)] * PARALLEL)
    seen = _errors(responses)
    assert seen[(401, "invalid_code")] == 5, seen  # otp_max_attempts: the other ten were never evaluated
    assert seen[(403, "code_locked")] == PARALLEL - 5, seen
    async with httpx.AsyncClient(base_url=node.url) as http:
        after = await http.post("/v1/auth/verify", json=verify_body(number, code))
    assert after.status_code == 403 and after.json()["error"] == "code_locked"


async def test_one_code_gives_one_login_however_many_race(node: Any, node_sql: Sql, signup: Signup) -> None:
    user = await signup()
    code = await _code_for(node.url, node.sms_path, user.phone)
    responses = await _parallel(
        node.url, "POST", "/v1/auth/verify", [verify_body(user.phone, code)] * PARALLEL
    )
    seen = _errors(responses)
    assert seen[(200, "ok")] == 1 and set(seen) - {(200, "ok")} <= LOSERS, seen
    devices = await node_sql("SELECT count(*) FROM devices WHERE user_id = :u", u=user.user_id)
    assert devices == [(2,)]  # the signup's device and the one winner


async def test_parallel_first_logins_create_one_account(node: Any, node_sql: Sql) -> None:
    number = new_phone()
    code = await _code_for(node.url, node.sms_path, number)
    responses = await _parallel(node.url, "POST", "/v1/auth/verify", [verify_body(number, code)] * PARALLEL)
    seen = _errors(responses)
    assert seen[(200, "ok")] == 1 and set(seen) - {(200, "ok")} <= LOSERS, seen
    assert [r.json()["new_user"] for r in responses if r.status_code == 200] == [True]
    assert await node_sql("SELECT count(*) FROM users WHERE phone = :p", p=number) == [(1,)]
