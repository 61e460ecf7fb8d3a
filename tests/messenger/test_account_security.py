"""Accounts under attack: parallel code guesses and logins, second-factor brute force and takeover, login
floods, the database pool running dry, TOTP secrets at rest (docs/SECURITY.md "A user and a stolen device").

Parallel requests go through ``httpx`` at once (``asyncio.gather``); on PostgreSQL with two workers they
really run side by side, which is where the old read-then-write code let them all through.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import httpx
import pyotp
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

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


def _bearer(client: MessengerClient) -> dict[str, str]:
    return {"Authorization": f"Bearer {client.token}"}


async def _audited(node_sql: Sql, action: str, actor: str) -> int:
    [(count,)] = await node_sql(
        "SELECT count(*) FROM audit_log WHERE action = :a AND actor = :u", a=action, u=actor
    )
    return int(count)


async def test_parallel_wrong_pins_back_off_with_429_and_are_audited(
    node: Any, node_sql: Sql, signup: Signup
) -> None:
    user = await signup()
    await user.request("PUT", "/v1/account/2fa/pin", json={"pin": "1234"})
    responses = await _parallel(
        node.url, "POST", "/v1/account/2fa/disable", [{"otp": "0000"}] * PARALLEL, headers=_bearer(user)
    )
    seen = _errors(responses)
    # 5 free attempts and the one that sets the first 30 s lock are compared; the others are refused.
    assert seen == {(401, "second_factor_invalid"): 6, (429, "too_many_attempts"): PARALLEL - 6}, seen
    refused = next(r for r in responses if r.status_code == 429)
    assert 0 < int(refused.headers["Retry-After"]) <= 30 and "retry in" in refused.json()["detail"]
    assert await _audited(node_sql, "2fa.failed", user.user_id) == 6
    with pytest.raises(ApiFailure) as locked:  # even the right PIN waits out the lock
        await user.request("POST", "/v1/account/2fa/disable", json={"otp": "1234"})
    assert locked.value.status == 429
    assert (await user.request("GET", "/v1/account"))["pin"] is True


async def test_backoff_doubles_and_a_success_clears_it(node: Any, node_sql: Sql, signup: Signup) -> None:
    user = await signup()
    await user.request("PUT", "/v1/account/2fa/pin", json={"pin": "4321"})
    statuses = []
    for _ in range(6):
        with pytest.raises(ApiFailure) as wrong:
            await user.request("POST", "/v1/account/2fa/disable", json={"otp": "0000"})
        statuses.append(wrong.value.status)
    assert statuses == [401] * 6

    async def age_locks() -> None:  # the lock's time passes: move it into the past instead of sleeping
        await node_sql("UPDATE rate_limits SET until = until - 100000 WHERE key LIKE '2fa:%'")

    await age_locks()
    with pytest.raises(ApiFailure) as wrong:
        await user.request("POST", "/v1/account/2fa/disable", json={"otp": "0000"})
    assert wrong.value.status == 401
    with pytest.raises(ApiFailure) as locked:
        await user.request("POST", "/v1/account/2fa/disable", json={"otp": "4321"})
    assert locked.value.status == 429 and 30 < int(locked.value.headers["Retry-After"]) <= 61  # 60 s now
    await age_locks()
    await user.request("POST", "/v1/account/2fa/disable", json={"otp": "4321"})
    assert (await user.request("GET", "/v1/account"))["pin"] is False
    await user.request("PUT", "/v1/account/2fa/pin", json={"pin": "4321"})
    for _ in range(5):  # the success forgot the earlier failures: five free attempts again
        with pytest.raises(ApiFailure) as wrong:
            await user.request("POST", "/v1/account/2fa/disable", json={"otp": "0000"})
        assert wrong.value.status == 401


async def test_wrong_pins_at_login_count_toward_the_same_backoff(node: Any, signup: Signup) -> None:
    user = await signup()
    await user.request("PUT", "/v1/account/2fa/pin", json={"pin": "2468"})
    statuses = []
    async with httpx.AsyncClient(base_url=node.url) as http:
        for attempt in range(7):  # a new code every 4: the code's own 5 attempts are not what stops this
            if attempt % 4 == 0:
                code = await _code_for(node.url, node.sms_path, user.phone)
            response = await http.post("/v1/auth/verify", json=verify_body(user.phone, code, otp="1111"))
            statuses.append((response.status_code, response.json()["error"]))
    assert statuses[:6] == [(401, "second_factor_invalid")] * 6
    assert statuses[6] == (429, "too_many_attempts")


async def test_changing_the_pin_needs_the_current_one(node: Any, signup: Signup) -> None:
    user = await signup()
    await user.request("PUT", "/v1/account/2fa/pin", json={"pin": "1234"})  # none yet: no current needed
    for body, error in (
        ({"pin": "9999"}, "current_factor_required"),
        ({"pin": "9999", "current": "0000"}, "second_factor_invalid"),
    ):
        with pytest.raises(ApiFailure) as refused:
            await user.request("PUT", "/v1/account/2fa/pin", json=body)
        assert (refused.value.status, refused.value.error) == (401, error)
    await user.request("PUT", "/v1/account/2fa/pin", json={"pin": "9999", "current": "1234"})
    read = sms_file_reader(node.sms_path)
    with pytest.raises(ApiFailure) as old:
        await MessengerClient.login(node.url, user.phone, read, otp="1234")
    assert old.value.error == "second_factor_invalid"
    await (await MessengerClient.login(node.url, user.phone, read, otp="9999")).close()


async def test_totp_over_a_pin_needs_the_pin_and_its_secret_is_sealed_at_rest(
    node: Any, node_sql: Sql, signup: Signup
) -> None:
    user = await signup()
    await user.request("PUT", "/v1/account/2fa/pin", json={"pin": "1357"})
    secret = (await user.request("POST", "/v1/account/2fa/totp"))["secret"]
    with pytest.raises(ApiFailure) as refused:  # a stolen token cannot add its own authenticator
        await user.request("POST", "/v1/account/2fa/totp/confirm", json={"otp": pyotp.TOTP(secret).now()})
    assert refused.value.error == "current_factor_required"
    await user.request(
        "POST", "/v1/account/2fa/totp/confirm", json={"otp": pyotp.TOTP(secret).now(), "current": "1357"}
    )
    [(stored, pending)] = await node_sql(
        "SELECT totp_secret, totp_pending FROM users WHERE id = :u", u=user.user_id
    )
    assert pending is None and stored.startswith("k1:") and secret not in stored
    read = sms_file_reader(node.sms_path)
    await (await MessengerClient.login(node.url, user.phone, read, otp=pyotp.TOTP(secret).now())).close()


async def _verifies(url: str, n: int, source: str) -> list[tuple[int, str]]:
    """``n`` verifies for numbers that never asked for a code, from the loopback address ``source``."""
    transport = httpx.AsyncHTTPTransport(local_address=source)
    async with httpx.AsyncClient(base_url=url, transport=transport) as http:
        out = []
        for _ in range(n):
            response = await http.post("/v1/auth/verify", json=verify_body(new_phone(), "123456"))
            out.append((response.status_code, response.json()["error"]))
        return out


@pytest.fixture(scope="module")
def strict(node_factory: Callable[..., Any]) -> Any:
    """Per address code_rate_per_ip (1) x otp_max_attempts (5) verifies; the node as a whole 8."""
    return node_factory(shared_backends=True, MSGFLEET_CODE_RATE_PER_IP="1", MSGFLEET_VERIFY_RATE_GLOBAL="8")


@pytest.fixture(scope="module")
def small_pool(node_factory: Callable[..., Any]) -> Any:
    """One database connection per worker (and one overflow), given up after 0.5 s. PostgreSQL only:
    SQLite statements run in the event loop (db/inline_sqlite.py), so another process's lock stalls the
    loop in SQLite's busy handler instead of filling the pool."""
    if not (os.environ.get("MSGFLEET_TEST_DATABASE_URL") and os.environ.get("MSGFLEET_TEST_REDIS_URL")):
        pytest.skip("needs PostgreSQL (MSGFLEET_TEST_DATABASE_URL, MSGFLEET_TEST_REDIS_URL)")
    return node_factory(shared_backends=True, MSGFLEET_DB_POOL_SIZE="1", MSGFLEET_DB_POOL_TIMEOUT="0.5")


async def test_login_flood_meets_the_per_address_then_the_node_wide_limit(strict: Any) -> None:
    first = await _verifies(strict.url, 6, "127.0.0.1")
    assert first == [(400, "no_code")] * 5 + [(429, "rate_limited")]
    second = await _verifies(strict.url, 4, "127.0.0.2")  # another address: its own 5, but the node's 8
    assert second == [(400, "no_code")] * 3 + [(429, "rate_limited")]
    async with httpx.AsyncClient(base_url=strict.url) as http:
        refused = await http.post("/v1/auth/verify", json=verify_body(new_phone(), "123456"))
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    engine = create_async_engine(strict.db_url)
    async with engine.connect() as conn:
        audited = (
            await conn.execute(text("SELECT detail FROM audit_log WHERE action = 'auth.rate_limited'"))
        ).all()
    await engine.dispose()
    # the first refusal of each window is audited, not every one
    assert sorted(row[0] for row in audited) == ['{"limit":"verify-all"}', '{"limit":"verify-ip"}']


@contextlib.asynccontextmanager
async def _database_locked(db_url: str) -> AsyncIterator[None]:
    """Hold a lock that every login-code request waits for (as a slow database would)."""
    pg = await asyncpg.connect(db_url.replace("+asyncpg", ""))
    transaction = pg.transaction()
    await transaction.start()
    await pg.execute("LOCK TABLE rate_limits IN ACCESS EXCLUSIVE MODE")
    try:
        yield
    finally:
        await transaction.rollback()
        await pg.close()


async def test_an_exhausted_database_pool_answers_503_json(small_pool: Any) -> None:
    small, n = small_pool, 12
    async with httpx.AsyncClient(
        base_url=small.url, timeout=60, limits=httpx.Limits(max_connections=n)
    ) as http:
        async with _database_locked(small.db_url):
            tasks = [
                asyncio.create_task(http.post("/v1/auth/request-code", json={"phone": new_phone()}))
                for _ in range(n)
            ]
            # the requests holding connections wait for the lock; the others time out waiting for a
            # connection, so the first answer can only come from them
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        responses = await asyncio.gather(*tasks)
    first = next(iter(done)).result()
    assert first.status_code == 503 and first.json()["error"] == "unavailable"
    assert first.headers["Retry-After"] == "1"
    assert {r.status_code for r in responses} <= {202, 503}
    assert any(r.status_code == 202 for r in responses)  # the ones that had a connection went through
