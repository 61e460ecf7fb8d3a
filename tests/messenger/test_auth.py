"""Login codes: delivery through the SMS sink, expiry, wrong attempts, rate limits, dev endpoint."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from messenger.sms import last_code

Sql = Callable[..., Awaitable[list[Any]]]


def phone(n: int) -> str:
    import secrets

    return f"+7998{secrets.randbelow(10**6):06d}{n}"


def verify_body(number: str, code: str, **extra: str) -> dict[str, str]:
    return {"phone": number, "code": code, "device_name": "test", "platform": "pytest", **extra}


async def test_code_is_sent_hashed_and_verify_creates_user_and_device(node: Any, node_sql: Sql) -> None:
    number = phone(1)
    async with httpx.AsyncClient(base_url=node.url, timeout=60) as http:
        assert (await http.post("/v1/auth/request-code", json={"phone": number})).status_code == 202
        code = last_code(node.sms_path, number)
        assert code is not None and len(code) == 6 and code.isdigit()
        stored = await node_sql("SELECT code_hash FROM login_codes WHERE phone = :p", p=number)
        assert stored and code not in stored[0][0]
        login = (await http.post("/v1/auth/verify", json=verify_body(number, code))).json()
        assert login["new_user"] and login["user_id"].endswith("@RU-MOW")
        again = await http.post("/v1/auth/verify", json=verify_body(number, code))
        assert again.status_code == 400 and again.json()["error"] == "no_code"  # single use


async def test_expired_code_is_refused(node: Any, node_sql: Sql) -> None:
    number = phone(2)
    async with httpx.AsyncClient(base_url=node.url, timeout=60) as http:
        await http.post("/v1/auth/request-code", json={"phone": number})
        code = last_code(node.sms_path, number)
        # five minutes pass: move the stored expiry into the past instead of sleeping
        await node_sql("UPDATE login_codes SET expires_at = expires_at - 301 WHERE phone = :p", p=number)
        response = await http.post("/v1/auth/verify", json=verify_body(number, code or ""))
    assert response.status_code == 400 and response.json()["error"] == "code_expired"


async def test_expiry_is_five_minutes(node: Any, node_sql: Sql) -> None:
    number = phone(3)
    async with httpx.AsyncClient(base_url=node.url, timeout=60) as http:
        await http.post("/v1/auth/request-code", json={"phone": number})
    [(created, expires)] = await node_sql(
        "SELECT created_at, expires_at FROM login_codes WHERE phone = :p", p=number
    )
    assert expires - created == pytest.approx(300, abs=1)


async def test_five_wrong_attempts_lock_the_code(node: Any) -> None:
    number = phone(4)
    async with httpx.AsyncClient(base_url=node.url, timeout=60) as http:
        await http.post("/v1/auth/request-code", json={"phone": number})
        code = last_code(node.sms_path, number) or ""
        wrong = f"{(int(code) + 1) % 10**6:06d}"
        statuses = [
            (await http.post("/v1/auth/verify", json=verify_body(number, wrong))).status_code
            for _ in range(5)
        ]
        locked = await http.post("/v1/auth/verify", json=verify_body(number, code))
    assert statuses == [401] * 5
    assert locked.status_code == 403 and locked.json()["error"] == "code_locked"


async def test_per_number_rate_limit_answers_429_with_retry_after(node: Any) -> None:
    number = phone(5)
    async with httpx.AsyncClient(base_url=node.url, timeout=60) as http:
        statuses = [
            (await http.post("/v1/auth/request-code", json={"phone": number})).status_code for _ in range(6)
        ]
        limited = await http.post("/v1/auth/request-code", json={"phone": number})
    assert statuses == [202] * 5 + [429]
    assert limited.json()["error"] == "rate_limited"
    assert 0 < int(limited.headers["Retry-After"]) <= 600


async def test_per_ip_rate_limit(node_factory: Callable[..., Any]) -> None:
    strict = node_factory(MSGFLEET_CODE_RATE_PER_IP="3")
    async with httpx.AsyncClient(base_url=strict.url, timeout=60) as http:
        statuses = [
            (await http.post("/v1/auth/request-code", json={"phone": phone(i)})).status_code for i in range(4)
        ]
        # the dev endpoint is off on this node
        dev = await http.get(f"/v1/dev/sms/{phone(0)}")
    assert statuses == [202, 202, 202, 429]
    assert dev.status_code == 404 and dev.json()["error"] == "not_found"


async def test_dev_sms_endpoint_when_enabled(node: Any) -> None:
    number = phone(6)
    async with httpx.AsyncClient(base_url=node.url, timeout=60) as http:
        await http.post("/v1/auth/request-code", json={"phone": number})
        response = await http.get(f"/v1/dev/sms/{number}")
    assert response.json() == {"phone": number, "code": last_code(node.sms_path, number)}


@pytest.mark.parametrize("bad", ["89991234567", "+0123456789", "+7999", "+7999123456789012", "+7999abc4567"])
async def test_non_e164_numbers_are_refused(node: Any, bad: str) -> None:
    async with httpx.AsyncClient(base_url=node.url, timeout=60) as http:
        response = await http.post("/v1/auth/request-code", json={"phone": bad})
    assert response.status_code in (400, 422)
    assert response.json()["error"] in ("invalid_phone", "validation_error")
