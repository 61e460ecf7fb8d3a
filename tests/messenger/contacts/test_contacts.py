"""Contact import and discovery over real HTTP: hashed numbers only, matches, rate limit, bad input."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Awaitable, Callable

import pytest

from messenger.client import ApiFailure, MessengerClient
from messenger.services.contacts import DISCOVERY_PER_WINDOW, MAX_PER_REQUEST

Signup = Callable[..., Awaitable[MessengerClient]]


def h(phone: str) -> str:
    return hashlib.sha256(phone.encode()).hexdigest()


def random_hashes(n: int) -> list[str]:
    return [secrets.token_hex(32) for _ in range(n)]


async def test_import_finds_registered_contacts(signup: Signup) -> None:
    alice, bob, carol = [await signup() for _ in range(3)]
    assert alice.phone and bob.phone and carol.phone
    stranger = f"+7997{secrets.randbelow(10**7):07d}"
    found = await alice.request(
        "POST", "/v1/contacts", json={"hashes": [h(bob.phone), h(stranger), h(alice.phone)]}
    )
    assert found == [{"hash": h(bob.phone), "user_id": bob.user_id}]  # not the caller, not the stranger
    await alice.request("POST", "/v1/contacts", json={"hashes": [h(carol.phone), h(bob.phone)]})
    listed = {c["hash"]: c["user_id"] for c in await alice.request("GET", "/v1/contacts")}
    assert listed == {
        h(bob.phone): bob.user_id,
        h(carol.phone): carol.user_id,
        h(stranger): None,
        h(alice.phone): alice.user_id,
    }
    # The stranger signs up later: the stored contact now resolves, at no discovery cost.
    late = await signup(phone=stranger)
    listed = {c["hash"]: c["user_id"] for c in await alice.request("GET", "/v1/contacts")}
    assert listed[h(stranger)] == late.user_id
    await alice.request("DELETE", "/v1/contacts")
    assert await alice.request("GET", "/v1/contacts") == []


async def test_discovery_is_rate_limited_by_distinct_numbers(signup: Signup) -> None:
    walker, target = await signup(), await signup()
    assert target.phone
    batches = DISCOVERY_PER_WINDOW // MAX_PER_REQUEST
    first = random_hashes(MAX_PER_REQUEST)
    for i in range(batches):
        await walker.request(
            "POST", "/v1/contacts", json={"hashes": first if i == 0 else random_hashes(MAX_PER_REQUEST)}
        )
    await walker.request("POST", "/v1/contacts", json={"hashes": first})  # re-sync of known numbers is free
    with pytest.raises(ApiFailure) as err:
        await walker.request("POST", "/v1/contacts", json={"hashes": [h(target.phone)]})
    assert (err.value.status, err.value.error) == (429, "rate_limited")
    assert 0 < int(err.value.headers["Retry-After"]) <= 86_400
    # Refused means nothing stored: the number is not among the walker's contacts.
    assert h(target.phone) not in {c["hash"] for c in await walker.request("GET", "/v1/contacts")}
    # Another user is unaffected.
    other = await signup()
    assert await other.request("POST", "/v1/contacts", json={"hashes": [h(target.phone)]}) == [
        {"hash": h(target.phone), "user_id": target.user_id}
    ]


async def test_bad_input_is_refused_whole(signup: Signup) -> None:
    alice, bob = await signup(), await signup()
    assert bob.phone
    for body, code in (
        ({"hashes": [h(bob.phone), bob.phone]}, "invalid_hash"),  # a raw number is refused
        ({"hashes": [h(bob.phone).upper()]}, "invalid_hash"),
        ({"hashes": random_hashes(MAX_PER_REQUEST + 1)}, "too_many_hashes"),
        ({"numbers": [bob.phone]}, "validation_error"),
    ):
        with pytest.raises(ApiFailure) as err:
            await alice.request("POST", "/v1/contacts", json=body)
        assert err.value.error == code
    assert await alice.request("GET", "/v1/contacts") == []
    response = await alice.http.get("/v1/contacts", headers={"Authorization": "Bearer nope"})
    assert (response.status_code, response.json()["error"]) == (401, "invalid_token")
