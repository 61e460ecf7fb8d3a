"""Device sign-in by a short code (shown as text and as a QR code): a new device asks for a code naming
the account (phone number) it wants to join, a signed-in device of that account approves the code, the
new device claims its own device and token with the polling secret it was given. Then it publishes its
own keys (``PUT /v1/keys``) like any device.

Codes live ``device_link_ttl_seconds`` (node clock), are single-use (approval and claim are conditional
UPDATEs), rate-limited per client address (new codes) and per user (approvals); approvals and refusals
are audited. Stored: HMACs of the code and of the phone number under the node secret, the hash of the
polling secret, the new device's name and platform.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from messenger import audit
from messenger.db.base import now
from messenger.db.models import Device, DeviceLink, User
from messenger.errors import BadRequest, Conflict, Forbidden, NotFound
from messenger.node import Node
from messenger.services import accounts, limits
from messenger.services.ids import new_id

# Crockford's base32 without I, L, O, U: nothing to misread when typed from the screen. 8 of them are
# 40 bits, against at most ``device_link_approvals_per_user`` guesses per window and a 2-minute life.
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 8
QR_SCHEME = "msgfleet://link/"


def new_code() -> str:
    raw = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
    return f"{raw[:4]}-{raw[4:]}"


def normal_code(code: str) -> str:
    """The code as typed: case, spaces and dashes do not matter; ``O``/``I``/``L`` read as 0/1/1."""
    cleaned = code.upper().replace("-", "").replace(" ", "").translate(str.maketrans("OIL", "011"))
    if len(cleaned) != CODE_LENGTH or any(c not in ALPHABET for c in cleaned):
        raise NotFound("no such device link code", code="link_not_found")
    return f"{cleaned[:4]}-{cleaned[4:]}"


def _mac(secret: bytes, purpose: str, value: str) -> str:
    return hmac.new(secret, f"{purpose}:{value}".encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Started:
    link_id: str
    code: str
    qr_payload: str
    poll_secret: str
    expires_at: float


async def start(
    session: AsyncSession, node: Node, *, phone: str, device_name: str, platform: str, client_ip: str
) -> Started:
    settings = node.settings
    accounts.check_phone(phone)
    await limits.hit(
        session,
        node.secret,
        "link-ip",
        client_ip,
        limit=settings.device_link_rate_per_ip,
        window=settings.code_rate_window_seconds,
        what="too many device link codes from this client address",
    )
    t = now()
    await session.execute(
        delete(DeviceLink).where(DeviceLink.expires_at < t - settings.device_link_ttl_seconds)
    )
    code, poll_secret = new_code(), secrets.token_urlsafe(32)
    link = DeviceLink(
        id=new_id("l"),
        code_hash=_mac(node.secret, "link", code),
        secret_hash=hashlib.sha256(poll_secret.encode()).hexdigest(),
        phone_hash=_mac(node.secret, "link-phone", phone),
        device_name=device_name,
        platform=platform,
        created_at=t,
        expires_at=t + settings.device_link_ttl_seconds,
        claimed=False,
    )
    session.add(link)
    await session.commit()
    return Started(link.id, code, f"{QR_SCHEME}{code}", poll_secret, link.expires_at)


async def approve(session: AsyncSession, node: Node, *, device: Device, code: str) -> DeviceLink:
    """``device`` approves ``code`` for its own user: 404 unknown, 400 expired, 409 used, 403 the code
    asks for another account."""
    await limits.hit(
        session,
        node.secret,
        "link-approve",
        device.user_id,
        limit=node.settings.device_link_approvals_per_user,
        window=node.settings.code_rate_window_seconds,
        what="too many device link approvals for this account",
    )
    key = _mac(node.secret, "link", normal_code(code))
    link = await session.scalar(select(DeviceLink).where(DeviceLink.code_hash == key))
    if link is None:
        raise NotFound("no such device link code", code="link_not_found")
    if link.expires_at < now():
        raise BadRequest("the code expired; show a new one on the new device", code="link_expired")
    user = await session.get(User, device.user_id)
    assert user is not None
    if not hmac.compare_digest(link.phone_hash, _mac(node.secret, "link-phone", user.phone)):
        # Committed here, before the 403: a second session would wait for SQLite's one writer connection,
        # which this request holds.
        await audit.record(
            session,
            action="device.link_refused",
            actor=device.user_id,
            target=link.id,
            detail={"why": "another account"},
        )
        await session.commit()
        raise Forbidden("this code asks to join another account", code="link_wrong_user")
    won = await session.scalar(
        update(DeviceLink)
        .where(DeviceLink.id == link.id, DeviceLink.approved_by.is_(None))
        .values(approved_by=device.id, user_id=device.user_id)
        .returning(DeviceLink.id)
    )
    if won is None:
        raise Conflict("this code was approved already", code="link_used")
    await audit.record(
        session,
        action="device.link_approved",
        actor=device.user_id,
        target=link.id,
        detail={"approved_by": device.id, "platform": link.platform},
    )
    await session.commit()
    return link


async def claim(
    session: AsyncSession, node: Node, *, link_id: str, poll_secret: str
) -> accounts.Login | None:
    """The new device's poll: ``None`` while not approved, then its device and token, once."""
    link = await session.get(DeviceLink, link_id)
    digest = hashlib.sha256(poll_secret.encode()).hexdigest()
    if link is None or not hmac.compare_digest(link.secret_hash, digest):
        raise NotFound("no such device link", code="link_not_found")
    if link.claimed:
        raise Conflict("this device link was used already", code="link_used")
    if link.expires_at < now():
        raise BadRequest("the code expired; show a new one", code="link_expired")
    if link.approved_by is None:
        return None
    won = await session.scalar(
        update(DeviceLink)
        .where(DeviceLink.id == link.id, DeviceLink.claimed.is_(False))
        .values(claimed=True)
        .returning(DeviceLink.user_id)
    )
    if won is None:
        raise Conflict("this device link was used already", code="link_used")
    user = await session.get(User, won)
    if user is None:
        raise NotFound("the account of this device link is gone", code="link_not_found")
    return await accounts.add_device(
        session,
        user=user,
        device_name=link.device_name,
        platform=link.platform,
        new_user=False,
        via="device_link",
    )
