"""OpenID Connect sign-in and account linking (docs/IDENTITY.md, "Sign-in with an identity provider").

``start`` keeps the flow's ``state`` (as a hash), ``nonce`` and PKCE verifier in ``oidc_flows``;
``callback`` consumes that row with one conditional UPDATE (a replayed ``state`` loses), exchanges the
code at the provider, validates the ID token and then

- links the identity to the caller's account when the flow was started signed in (the callback must come
  with a token of the same user),
- else signs in the account the identity is linked to,
- else, when the provider vouches for a phone number (``phone_number`` + ``phone_number_verified``), signs
  in (or creates) that number's account and links it;

and in the last two cases returns a new device and its token, as ``/v1/auth/verify`` does (the account's
second factor, if on, is asked for as there). The subject is stored as HMAC-SHA-256 under the node
secret, with only the claims the provider's ``keep_claims`` allows.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from messenger import audit
from messenger.db.base import now
from messenger.db.models import Device, IdentityLink, OidcFlow, User
from messenger.errors import BadGateway, BadRequest, Conflict, Forbidden, NotFound, Unauthorized
from messenger.identity.oidc import ProviderClient
from messenger.identity.settings import IdentitySettings, ProviderConfig, load_identity_settings
from messenger.keystore import KeyStoreError
from messenger.node import Node
from messenger.services import accounts, limits
from messenger.services.accounts import E164, Login


@dataclass
class Identity:
    """What a worker keeps for the identity providers (``node.features["identity"]``)."""

    settings: IdentitySettings
    clients: dict[str, ProviderClient]
    http: httpx.AsyncClient

    @classmethod
    def open(cls) -> Identity:
        settings = load_identity_settings()
        http = httpx.AsyncClient(timeout=settings.http_timeout_seconds, follow_redirects=False)
        clients = {
            name: ProviderClient(config, settings, http) for name, config in settings.provider_list().items()
        }
        return cls(settings, clients, http)

    def client(self, name: str) -> ProviderClient:
        client = self.clients.get(name)
        if client is None:
            known = ", ".join(sorted(self.clients)) or "none"
            raise NotFound(
                f"no identity provider {name!r} in this state (known: {known})", code="oidc_unknown_provider"
            )
        return client


def identity_of(node: Node) -> Identity:
    found: Identity = node.features["identity"]
    return found


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def subject_hash(secret: bytes, provider: str, subject: str) -> str:
    """How a provider's subject is stored: an HMAC under the node secret (the subject may be a national
    identifier; the hash still finds the link)."""
    return hmac.new(secret, f"oidc:{provider}:{subject}".encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Started:
    authorization_url: str
    state: str
    expires_at: float


async def _per_address(session: AsyncSession, node: Node, client_ip: str) -> None:
    """Starts and callbacks per client address: as many as SMS verifies may be (``code_rate_per_ip`` x
    ``otp_max_attempts`` per window; 0 turns it off), each counted once."""
    settings = node.settings
    await limits.hit(
        session,
        node.secret,
        "oidc-ip",
        client_ip,
        limit=settings.code_rate_per_ip * settings.otp_max_attempts,
        window=settings.code_rate_window_seconds,
        what="too many identity-provider sign-ins from this client address",
    )


async def start(
    session: AsyncSession, node: Node, *, provider: str, user_id: str | None, client_ip: str
) -> Started:
    identity = identity_of(node)
    client = identity.client(provider)
    await _per_address(session, node, client_ip)
    state, nonce, verifier = secrets.token_urlsafe(32), secrets.token_urlsafe(32), secrets.token_urlsafe(64)
    url = await client.authorization_url(state=state, nonce=nonce, verifier=verifier)
    t = now()
    await session.execute(delete(OidcFlow).where(OidcFlow.expires_at < t))  # expired flows are of no use
    expires = t + identity.settings.state_ttl_seconds
    session.add(
        OidcFlow(
            state_hash=_sha256(state),
            provider=provider,
            nonce=nonce,
            code_verifier=verifier,
            user_id=user_id,
            created_at=t,
            expires_at=expires,
            used=False,
        )
    )
    await session.commit()
    return Started(url, state, expires)


@dataclass(frozen=True)
class Outcome:
    user_id: str
    provider: str
    linked: bool  # a new link was made by this callback
    login: Login | None  # a new device and token (not when a signed-in caller linked its account)


async def callback(
    session: AsyncSession,
    node: Node,
    *,
    provider: str,
    code: str,
    state: str,
    caller: Device | None,
    device_name: str | None,
    platform: str | None,
    otp: str | None,
    client_ip: str,
) -> Outcome:
    identity = identity_of(node)
    client = identity.client(provider)
    await _per_address(session, node, client_ip)
    flow = await _consume(session, provider=provider, state=state)
    if flow.user_id is not None and (caller is None or caller.user_id != flow.user_id):
        raise Forbidden(
            "this sign-in was started to link a signed-in account: finish it with that account's token",
            code="oidc_wrong_caller",
        )
    if flow.user_id is None and (device_name is None or platform is None):
        raise BadRequest("a sign-in needs device_name and platform", code="device_required")
    try:
        secret = node.keys.credential(client.config.credential)
    except KeyStoreError:
        raise _misconfigured(client.config) from None
    id_token = await client.exchange(code=code, verifier=flow.code_verifier, secret=secret)
    try:
        claims = await client.validate(id_token, nonce=flow.nonce)
    except Unauthorized as exc:
        await audit.record(  # committed with the consumed flow, in this request's transaction
            session, action="oidc.refused", actor=flow.user_id, detail={"provider": provider, "why": exc.code}
        )
        await session.commit()
        raise
    subject = subject_hash(node.secret, provider, claims[client.config.subject_claim])
    kept = json.dumps({k: claims[k] for k in client.config.keep_claims if k in claims}, sort_keys=True)
    link = await session.scalar(
        select(IdentityLink).where(IdentityLink.provider == provider, IdentityLink.subject_hash == subject)
    )
    if flow.user_id is not None:  # linking the signed-in caller's account
        await _link(session, link, user_id=flow.user_id, provider=provider, subject=subject, kept=kept)
        await session.commit()
        return Outcome(flow.user_id, provider, link is None, None)
    assert device_name is not None and platform is not None
    new_user, linked = False, False
    if link is not None:
        user = await session.get(User, link.user_id)
        assert user is not None
        link.claims, link.verified_at = kept, now()
    else:
        phone = _vouched_phone(claims)
        if phone is None:
            raise NotFound(
                f"no account is linked to this {client.config.display_name} identity and it vouches for no "
                "phone number: sign in by SMS code and link it",
                code="identity_not_linked",
            )
        user, new_user = await accounts.user_for_phone(session, node, phone)
        await _link(session, None, user_id=user.id, provider=provider, subject=subject, kept=kept)
        linked = True
    if user.totp_secret or user.pin_hash:
        if not otp:
            raise Unauthorized("this account needs its second factor in 'otp'", code="second_factor_required")
        await accounts.check_second_factor(session, node, user=user, given=otp, where="oidc")
    login = await accounts.add_device(
        session, user=user, device_name=device_name, platform=platform, new_user=new_user, via=provider
    )
    return Outcome(user.id, provider, linked, login)


def _misconfigured(config: ProviderConfig) -> BadGateway:
    return BadGateway(
        f"identity provider {config.name} has no client secret in the node's key store ({config.credential})",
        code="oidc_not_configured",
    )


async def _consume(session: AsyncSession, *, provider: str, state: str) -> OidcFlow:
    """The flow of ``state``, marked used by one conditional UPDATE (only one callback can win it)."""
    key = _sha256(state)
    flow = await session.scalar(select(OidcFlow).where(OidcFlow.state_hash == key))
    if flow is None or flow.provider != provider:
        raise BadRequest("unknown state: start the sign-in again", code="oidc_state_invalid")
    if flow.expires_at < now():
        raise BadRequest("the sign-in took too long: start it again", code="oidc_state_expired")
    won = await session.scalar(
        update(OidcFlow)
        .where(OidcFlow.state_hash == key, OidcFlow.used.is_(False))
        .values(used=True)
        .returning(OidcFlow.state_hash)
    )
    await session.commit()  # used for good, even if the exchange below fails
    if won is None:
        raise Conflict("this sign-in was finished already (state replayed)", code="oidc_state_used")
    return flow


def _vouched_phone(claims: dict[str, Any]) -> str | None:
    phone = claims.get("phone_number")
    if claims.get("phone_number_verified") is True and isinstance(phone, str) and E164.fullmatch(phone):
        return phone
    return None


async def _link(
    session: AsyncSession, link: IdentityLink | None, *, user_id: str, provider: str, subject: str, kept: str
) -> None:
    if link is not None and link.user_id != user_id:
        raise Conflict("this identity is linked to another account", code="identity_linked_elsewhere")
    if link is not None:
        link.claims, link.verified_at = kept, now()
        return
    other = await session.scalar(
        select(IdentityLink.id).where(IdentityLink.user_id == user_id, IdentityLink.provider == provider)
    )
    if other is not None:  # never re-pointed silently: that is what a stolen session would try
        raise Conflict(
            f"this account is linked to another {provider} identity already", code="account_linked_elsewhere"
        )
    try:
        async with session.begin_nested():  # a parallel first sign-in of the same identity may win the row
            session.add(
                IdentityLink(
                    user_id=user_id, provider=provider, subject_hash=subject, claims=kept, verified_at=now()
                )
            )
    except IntegrityError:
        raise Conflict(
            "this identity was linked by a parallel sign-in; retry", code="identity_link_race"
        ) from None
    await audit.record(
        session, action="oidc.linked", actor=user_id, target=user_id, detail={"provider": provider}
    )


async def verified_by(session: AsyncSession, user_ids: list[str]) -> dict[str, list[str]]:
    """The providers (their ``name``) that verified each of ``user_ids``; for the key directory."""
    rows = await session.execute(
        select(IdentityLink.user_id, IdentityLink.provider).where(IdentityLink.user_id.in_(user_ids))
    )
    out: dict[str, list[str]] = {}
    for user_id, provider in rows:
        out.setdefault(user_id, []).append(provider)
    return out
