"""OpenID Connect sign-in end to end against the local provider (tools/oidc-provider), and each way it
must fail with a clear 4xx (or 502/503 for a provider that is down)."""

from __future__ import annotations

import base64
import io
import json
import secrets
import zipfile
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from oidc_helpers import NODE_CLIENT, OTHER_CLIENT, ProxiedProvider, id_token_for, log_in
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine


def phone_account() -> tuple[str, str]:
    """A provider account that vouches for a fresh phone number: (account id, phone)."""
    digits = f"7997{secrets.randbelow(10**7):07d}"
    return f"p{digits}", f"+{digits}"


async def start(node: Any, token: str | None = None, provider: str = "testidp") -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(base_url=node.url, timeout=60) as http:
        return await http.post(f"/v1/auth/oidc/{provider}/start", headers=headers)


async def callback(
    node: Any, code: str, state: str, token: str | None = None, **extra: Any
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    body = {"code": code, "state": state, **extra}
    if token is None:
        body.setdefault("device_name", "laptop")
        body.setdefault("platform", "linux")
    async with httpx.AsyncClient(base_url=node.url, timeout=60) as http:
        return await http.post("/v1/auth/oidc/testidp/callback", json=body, headers=headers)


async def flow(node: Any, account: str, token: str | None = None, **extra: Any) -> httpx.Response:
    """start → log in and consent at the provider → callback."""
    started = await start(node, token)
    assert started.status_code == 200, started.text
    result = log_in(started.json()["authorization_url"], account)
    assert result["state"] == started.json()["state"]
    return await callback(node, result["code"], result["state"], token, **extra)


def refused(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"] == code, response.text


async def sql(node: Any, statement: str, **params: Any) -> list[Any]:
    """Rows of ``statement`` on the node's database."""
    engine = create_async_engine(node.db_url)
    try:
        async with engine.connect() as conn:
            return list((await conn.execute(text(statement), params)).all())
    finally:
        await engine.dispose()


async def audit_actions(node: Any, actor: str) -> list[tuple[str, str]]:
    rows = await sql(node, "SELECT action, detail FROM audit_log WHERE actor = :a ORDER BY seq", a=actor)
    return [(r[0], r[1]) for r in rows]


async def test_provider_vouching_for_a_phone_signs_up_then_signs_in(oidc_node: Any) -> None:
    account, phone = phone_account()
    first = await flow(oidc_node, account)
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["new_user"] and body["linked"] and body["token"]
    async with httpx.AsyncClient(base_url=oidc_node.url, timeout=60) as http:
        http.headers["Authorization"] = f"Bearer {body['token']}"
        devices = (await http.get("/v1/devices")).json()
        assert [d["id"] for d in devices] == [body["device_id"]]
        directory = (await http.get(f"/v1/users/{body['user_id']}/devices")).json()
    assert directory[0]["identity_verified_by"] == ["testidp"]
    again = await flow(oidc_node, account)
    assert again.status_code == 200, again.text
    assert again.json()["user_id"] == body["user_id"] and not again.json()["new_user"]
    assert not again.json()["linked"]
    actions = await audit_actions(oidc_node, body["user_id"])
    assert ("oidc.linked", '{"provider":"testidp"}') in actions
    logins = [json.loads(d) for a, d in actions if a == "auth.login"]
    assert logins == [{"new_user": True, "via": "testidp"}, {"new_user": False, "via": "testidp"}]
    owner = await sql(oidc_node, "SELECT id FROM users WHERE phone = :p", p=phone)
    assert owner == [(body["user_id"],)]  # the account of the number the provider vouched for


async def test_link_to_the_signed_in_account(oidc_node: Any, signup: Any) -> None:
    user = await signup(node_=oidc_node)
    account = f"n{secrets.token_hex(6)}"  # vouches for no phone number
    refused(await flow(oidc_node, account), 404, "identity_not_linked")
    started = await start(oidc_node, user.token)
    result = log_in(started.json()["authorization_url"], account)
    refused(await callback(oidc_node, result["code"], result["state"]), 403, "oidc_wrong_caller")
    linked = await flow(oidc_node, account, user.token)
    assert linked.status_code == 200, linked.text
    assert linked.json()["linked"] and linked.json()["token"] is None
    assert linked.json()["user_id"] == user.user_id
    signed_in = await flow(oidc_node, account)
    assert signed_in.status_code == 200, signed_in.text
    assert signed_in.json()["user_id"] == user.user_id
    other = await signup(node_=oidc_node)
    refused(await flow(oidc_node, account, other.token), 409, "identity_linked_elsewhere")


async def test_replayed_state_and_replayed_code(oidc_node: Any) -> None:
    account, _ = phone_account()
    started = await start(oidc_node)
    result = log_in(started.json()["authorization_url"], account)
    assert (await callback(oidc_node, result["code"], result["state"])).status_code == 200
    refused(await callback(oidc_node, result["code"], result["state"]), 409, "oidc_state_used")
    fresh = await start(oidc_node)  # a new state, the old (spent) code
    refused(await callback(oidc_node, result["code"], fresh.json()["state"]), 400, "oidc_code_rejected")
    refused(await callback(oidc_node, result["code"], "made-up"), 400, "oidc_state_invalid")


def _nonce(started: httpx.Response) -> str:
    return parse_qs(urlsplit(started.json()["authorization_url"]).query)["nonce"][0]


async def _with_token_swapped(
    node: Any, provider: ProxiedProvider, account: str, swap: Any
) -> httpx.Response:
    """A flow whose token response the proxy rewrites on its way to the node (``swap(body, nonce)``)."""
    started = await start(node)
    nonce = _nonce(started)
    result = log_in(started.json()["authorization_url"], account)
    provider.proxy.on_token = lambda body: swap(body, nonce)
    try:
        return await callback(node, result["code"], result["state"])
    finally:
        provider.proxy.on_token = None


async def test_tampered_token_is_refused(oidc_node: Any, provider: ProxiedProvider) -> None:
    account, _ = phone_account()
    _, victim = phone_account()

    def tamper(body: dict[str, Any], _nonce: str) -> dict[str, Any]:
        header, payload, signature = body["id_token"].split(".")
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        claims["phone_number"] = victim  # the attacker's wish: someone else's account
        forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
        return {**body, "id_token": f"{header}.{forged}.{signature}"}

    refused(await _with_token_swapped(oidc_node, provider, account, tamper), 401, "oidc_token_invalid")
    rows = await sql(oidc_node, "SELECT detail FROM audit_log WHERE action = 'oidc.refused'")
    details = [json.loads(r[0]) for r in rows]
    assert {"provider": "testidp", "why": "oidc_token_invalid"} in details


async def test_token_for_another_client_is_refused(oidc_node: Any, provider: ProxiedProvider) -> None:
    account, _ = phone_account()

    def other_client(body: dict[str, Any], nonce: str) -> dict[str, Any]:
        return {**body, "id_token": id_token_for(provider, OTHER_CLIENT, nonce=nonce, account=account)}

    refused(await _with_token_swapped(oidc_node, provider, account, other_client), 401, "oidc_wrong_audience")


async def test_token_with_another_nonce_is_refused(oidc_node: Any, provider: ProxiedProvider) -> None:
    account, _ = phone_account()

    def other_nonce(body: dict[str, Any], _nonce: str) -> dict[str, Any]:
        return {**body, "id_token": id_token_for(provider, NODE_CLIENT, nonce="not-yours", account=account)}

    refused(await _with_token_swapped(oidc_node, provider, account, other_nonce), 401, "oidc_nonce_mismatch")


async def test_unknown_and_unreachable_providers(oidc_node: Any) -> None:
    refused(await start(oidc_node, provider="nosuch"), 404, "oidc_unknown_provider")
    down = await start(oidc_node, provider="down")
    refused(down, 503, "oidc_provider_unavailable")
    assert down.headers["Retry-After"]
    async with httpx.AsyncClient(base_url=oidc_node.url, timeout=60) as http:
        listed = (await http.get("/v1/auth/oidc/providers")).json()
    assert {p["name"] for p in listed} == {"testidp", "down"}


async def test_expired_token_is_refused(node_factory: Any, provider: ProxiedProvider, oidc_env: Any) -> None:
    from clock_helpers import DevClock
    from oidc_helpers import ID_TOKEN_TTL

    node = node_factory(**oidc_env(provider))  # its own node: the clock moved on stays moved on
    await DevClock(node.url).advance(ID_TOKEN_TTL + 120)  # beyond the token's life and the leeway
    account, _ = phone_account()
    refused(await flow(node, account), 401, "oidc_token_expired")


async def test_key_rotation(node_factory: Any, tmp_path: Any, oidc_env: Any) -> None:
    """The provider restarts with a new signing key: the node's cached JWKS lacks its kid, so it refetches
    — but no sooner than jwks_min_refetch_seconds after the last fetch (node clock)."""
    from clock_helpers import DevClock

    local = ProxiedProvider(tmp_path)
    try:
        node = node_factory(**oidc_env(local, MSGFLEET_OIDC_JWKS_MIN_REFETCH_SECONDS="60"))
        account, _ = phone_account()
        assert (await flow(node, account)).status_code == 200  # caches the first key
        local.restart(new_key=True)
        refused(await flow(node, account), 401, "oidc_unknown_key")  # fetched under 60 s ago
        await DevClock(node.url).advance(61)
        rotated = await flow(node, account)
        assert rotated.status_code == 200, rotated.text
        started = await start(node)
        result = log_in(started.json()["authorization_url"], account)
        local.stop()  # the provider goes down between the user's login and the code exchange
        down = await callback(node, result["code"], result["state"])
        refused(down, 503, "oidc_provider_unavailable")
    finally:
        local.close()


async def test_claims_not_kept_are_never_stored(oidc_node: Any, dump_db: Any, signup: Any) -> None:
    """Residency: the provider hands out names and an e-mail (profile, email scopes); none of it, nor the
    raw subject, may reach the node's database. Only ``phone_number_verified`` is kept."""
    account, _ = phone_account()
    assert (await flow(oidc_node, account)).status_code == 200
    user = await signup(node_=oidc_node)
    plain = f"n{secrets.token_hex(6)}"
    assert (await flow(oidc_node, plain, user.token)).status_code == 200
    dump = await dump_db(oidc_node.db_url)
    for value in ("Ivan", "Testov", "idp.test", account, plain):
        assert value not in dump, f"{value!r} stored"
    assert '{"phone_number_verified": true}' in dump


async def test_deleting_the_account_erases_its_links(oidc_node: Any) -> None:
    """Data rights: the export names the link, deletion removes it, and the same identity then signs up
    a new account (the number is free again)."""
    account, phone = phone_account()
    first = (await flow(oidc_node, account)).json()
    async with httpx.AsyncClient(base_url=oidc_node.url, timeout=60) as http:
        http.headers["Authorization"] = f"Bearer {first['token']}"
        exported = await http.get("/v1/account/export")
        assert exported.status_code == 200
        with zipfile.ZipFile(io.BytesIO(exported.content)) as archive:
            data = json.loads(archive.read("account.json"))
        assert [link["provider"] for link in data["identity_links"]] == ["testidp"]
        assert data["identity_links"][0]["claims"] == {"phone_number_verified": True}
        deleted = await http.request("DELETE", "/v1/account", json={"phone": phone})
        assert deleted.status_code == 204, deleted.text
    assert await sql(oidc_node, "SELECT id FROM identity_links WHERE user_id = :u", u=first["user_id"]) == []
    again = (await flow(oidc_node, account)).json()
    assert again["new_user"] and again["user_id"] != first["user_id"]


async def test_the_second_factor_is_still_asked_for(oidc_node: Any, signup: Any) -> None:
    """The provider stands in for the SMS code, not for the account's PIN / TOTP."""
    user = await signup(node_=oidc_node)
    await user.request("PUT", "/v1/account/2fa/pin", json={"pin": "4812"})
    account = f"n{secrets.token_hex(6)}"
    assert (await flow(oidc_node, account, user.token)).status_code == 200  # linked
    refused(await flow(oidc_node, account), 401, "second_factor_required")
    refused(await flow(oidc_node, account, otp="0000"), 401, "second_factor_invalid")
    signed_in = await flow(oidc_node, account, otp="4812")
    assert signed_in.status_code == 200 and signed_in.json()["user_id"] == user.user_id


async def test_sign_ins_are_rate_limited_per_address(
    node_factory: Any, provider: ProxiedProvider, oidc_env: Any
) -> None:
    node = node_factory(**oidc_env(provider, MSGFLEET_CODE_RATE_PER_IP="1", MSGFLEET_OTP_MAX_ATTEMPTS="3"))
    account, _ = phone_account()
    assert (await flow(node, account)).status_code == 200  # a start and a callback: 2 of 3
    assert (await start(node)).status_code == 200
    limited = await start(node)
    refused(limited, 429, "rate_limited")
    assert limited.headers["Retry-After"]
