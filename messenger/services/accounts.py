"""Sign-up/login with a phone number and a one-time code, devices and their tokens, second factor."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

import pyotp
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from messenger import audit
from messenger.db.base import now
from messenger.db.models import Device, LoginCode, User
from messenger.errors import BadRequest, Conflict, Forbidden, NotFound, Unauthorized
from messenger.node import Node
from messenger.realtime.events import emit_to_users
from messenger.security import new_token, open_totp, seal_totp, token_hash
from messenger.services import limits
from messenger.services.ids import new_id, new_user_id

# ITU-T E.164: "+", a country code not starting with 0, at most 15 digits in all. The shortest national
# numbers in use have about 4 digits after a 3-digit country code, hence 7..15 digits here.
E164 = re.compile(r"^\+[1-9]\d{6,14}$")


def check_phone(phone: str) -> str:
    if not E164.fullmatch(phone):
        raise BadRequest(f"{phone!r} is not an E.164 phone number like +79991234567", code="invalid_phone")
    return phone


def code_hash(secret: bytes, phone: str, code: str) -> str:
    """HMAC with the node secret: a 6-digit code's plain hash could be reversed by trying 10^6 values."""
    return hmac.new(secret, f"{phone}:{code}".encode(), hashlib.sha256).hexdigest()


async def request_code(session: AsyncSession, node: Node, *, phone: str, client_ip: str) -> None:
    """Rate-limit, store a fresh hashed 6-digit code (older ones stop working) and send it by SMS."""
    settings = node.settings
    check_phone(phone)
    window = settings.code_rate_window_seconds
    for name, subject, limit, what in (
        ("code-phone", phone, settings.code_rate_per_phone, "too many codes requested for this phone number"),
        (
            "code-ip",
            client_ip,
            settings.code_rate_per_ip,
            "too many codes requested from this client address",
        ),
    ):
        await limits.hit(session, node.secret, name, subject, limit=limit, window=window, what=what)
    code = f"{secrets.randbelow(10**6):06d}"
    # The number itself stays out of the log (it outlives the account): country code and last 2 digits.
    detail = {"phone": audit.masked_phone(phone)}
    await audit.record(session, action="auth.code_requested", actor=None, target=None, detail=detail)
    await session.execute(
        update(LoginCode).where(LoginCode.phone == phone, LoginCode.consumed.is_(False)).values(consumed=True)
    )
    login = LoginCode(
        phone=phone,
        client_ip=client_ip,
        code_hash=code_hash(node.secret, phone, code),
        created_at=now(),
        expires_at=now() + settings.otp_ttl_seconds,
        attempts=0,
        consumed=False,
    )
    session.add(login)
    await session.flush()
    await session.commit()
    await node.sms.send_code(phone, code)


@dataclass(frozen=True)
class Login:
    user_id: str
    device_id: str
    token: str
    new_user: bool


async def verify(
    session: AsyncSession,
    node: Node,
    *,
    phone: str,
    code: str,
    device_name: str,
    platform: str,
    otp: str | None,
    client_ip: str,
) -> Login:
    """Check the code (and second factor if enabled); create the user if new and a device with a token.

    Race-free on both backends: the attempt is counted by one conditional UPDATE before the code is
    compared, the code is consumed by another (only one verify can win it), and a first login creates
    the user with ``INSERT … ON CONFLICT DO NOTHING``."""
    settings = node.settings
    check_phone(phone)
    await limits.hit(
        session,
        node.secret,
        "verify-ip",
        client_ip,
        limit=settings.code_rate_per_ip * settings.otp_max_attempts,
        window=settings.code_rate_window_seconds,
        what="too many login attempts from this client address",
    )
    await limits.hit(
        session,
        node.secret,
        "verify-all",
        "*",
        limit=settings.verify_rate_global,
        window=settings.verify_rate_window_seconds,
        what="the node takes no more logins right now",
    )
    login = await session.scalar(
        select(LoginCode)
        .where(LoginCode.phone == phone, LoginCode.consumed.is_(False))
        .order_by(LoginCode.id.desc())
        .limit(1)
    )
    if login is None:
        raise BadRequest("no code was requested for this number (or it was used)", code="no_code")
    if login.expires_at < now():
        raise BadRequest("the code expired; request a new one", code="code_expired")
    attempts = await session.scalar(
        update(LoginCode)
        .where(
            LoginCode.id == login.id,
            LoginCode.consumed.is_(False),
            LoginCode.attempts < settings.otp_max_attempts,
        )
        .values(attempts=LoginCode.attempts + 1)
        .returning(LoginCode.attempts)
    )
    await session.commit()
    if attempts is None:
        if await session.scalar(select(LoginCode.consumed).where(LoginCode.id == login.id)):
            raise BadRequest("no code was requested for this number (or it was used)", code="no_code")
        raise Forbidden("too many wrong attempts for this code; request a new one", code="code_locked")
    if not hmac.compare_digest(login.code_hash, code_hash(node.secret, phone, code)):
        # The code row, not the number: resolvable while the row exists; erased with the account.
        await audit.record(session, action="auth.login_failed", actor=None, target=f"login_code:{login.id}")
        await session.commit()
        left = settings.otp_max_attempts - attempts
        raise Unauthorized(f"wrong code; {left} attempts left", code="invalid_code")
    user = await session.scalar(select(User).where(User.phone == phone))
    if user is not None and (user.totp_secret or user.pin_hash):
        if not otp:
            raise Unauthorized("this account needs its second factor in 'otp'", code="second_factor_required")
        await check_second_factor(session, node, user=user, given=otp, where="login")
    won = await session.scalar(
        update(LoginCode)
        .where(LoginCode.id == login.id, LoginCode.consumed.is_(False))
        .values(consumed=True)
        .returning(LoginCode.id)
    )
    if won is None:  # a parallel verify of the same code got it first
        raise BadRequest("no code was requested for this number (or it was used)", code="no_code")
    if user is None:
        user, new_user = await user_for_phone(session, node, phone)
    else:
        new_user = False
    return await add_device(session, user=user, device_name=device_name, platform=platform, new_user=new_user)


async def user_for_phone(session: AsyncSession, node: Node, phone: str) -> tuple[User, bool]:
    """The user of ``phone``, created if there is none yet (``INSERT … ON CONFLICT DO NOTHING``: two
    first logins racing make one user); returns it and whether this call created it."""
    created = await session.scalar(
        limits.upsert(session, User)
        .values(id=new_user_id(node.settings.state), phone=phone, created_at=now())
        .on_conflict_do_nothing(index_elements=["phone"])
        .returning(User.id)
    )
    user = await session.scalar(select(User).where(User.phone == phone))
    assert user is not None
    return user, created is not None


async def add_device(
    session: AsyncSession,
    *,
    user: User,
    device_name: str,
    platform: str,
    new_user: bool,
    via: str | None = None,
) -> Login:
    """A new device of ``user`` with a fresh token: ``device.added`` to the user's other devices, the
    login audited (``via`` names how, e.g. an identity provider or a device link), committed."""
    token = new_token()
    device = Device(
        id=new_id("d"),
        user_id=user.id,
        name=device_name,
        platform=platform,
        token_hash=token_hash(token),
        created_at=now(),
        event_seq=0,
    )
    session.add(device)
    await session.flush()
    await emit_to_users(
        session,
        user_ids=[user.id],
        kind="device.added",
        exclude_device=device.id,
        payload={"device_id": device.id, "name": device_name, "platform": platform},
    )
    detail: dict[str, object] = {"new_user": new_user}
    if via is not None:
        detail["via"] = via
    await audit.record(session, action="auth.login", actor=user.id, target=device.id, detail=detail)
    await audit.record(
        session,
        action="device.added",
        actor=user.id,
        target=device.id,
        detail={"platform": platform},  # not the device name: personal, and it goes with the device row
    )
    await session.commit()
    return Login(user.id, device.id, token, new_user)


async def list_devices(session: AsyncSession, *, user_id: str) -> list[Device]:
    rows = await session.scalars(
        select(Device)
        .where(Device.user_id == user_id, Device.revoked_at.is_(None))
        .order_by(Device.created_at)
    )
    return list(rows)


async def revoke_device(session: AsyncSession, node: Node, *, user_id: str, device_id: str) -> None:
    """Revoke one of the user's devices: its token stops working now and its sockets are closed."""
    device = await session.get(Device, device_id)
    if device is None or device.user_id != user_id or device.revoked_at is not None:
        raise NotFound(f"device {device_id} not found", code="device_not_found")
    device.revoked_at = now()
    await emit_to_users(
        session,
        user_ids=[user_id],
        kind="device.revoked",
        exclude_device=device_id,
        payload={"device_id": device_id},
    )
    await audit.record(session, action="device.revoked", actor=user_id, target=device_id)
    await session.commit()
    await node.hub.revoke([device_id])


# --- second factor ---

_SCRYPT = {"n": 2**14, "r": 8, "p": 1}  # RFC 7914 §2 example cost for interactive logins


def hash_pin(pin: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(pin.encode(), salt=salt, **_SCRYPT)
    return f"scrypt${salt.hex()}${digest.hex()}"


def check_pin(stored: str, pin: str) -> bool:
    _, salt, digest = stored.split("$")
    candidate = hashlib.scrypt(pin.encode(), salt=bytes.fromhex(salt), **_SCRYPT)
    return hmac.compare_digest(candidate.hex(), digest)


def _second_factor_ok(node: Node, user: User, given: str) -> bool:
    if user.totp_secret:
        secret = open_totp(node.keys, user.totp_secret, user_id=user.id)
        if pyotp.TOTP(secret).verify(given, valid_window=1):
            return True
    return bool(user.pin_hash) and check_pin(user.pin_hash or "", given)


async def check_second_factor(
    session: AsyncSession, node: Node, *, user: User, given: str, where: str
) -> None:
    """Every PIN / TOTP comparison goes through here: the attempt is counted first (backoff, 429), a
    failure is audited (``2fa.failed``) and answered 401, a success clears the count (caller commits)."""
    settings = node.settings
    await limits.attempt(
        session,
        node.secret,
        "2fa",
        user.id,
        free=settings.second_factor_free_attempts,
        base=settings.second_factor_backoff_seconds,
        cap=settings.second_factor_backoff_cap_seconds,
        what="too many wrong second factors for this account",
    )
    if _second_factor_ok(node, user, given):
        await limits.clear(session, node.secret, "2fa", user.id)
        return
    await audit.record(session, action="2fa.failed", actor=user.id, target=user.id, detail={"where": where})
    await session.commit()
    raise Unauthorized("wrong second factor", code="second_factor_invalid")


async def _current_factor(
    session: AsyncSession, node: Node, *, user: User, current: str | None, where: str
) -> None:
    """Changing a second factor needs the one in force (a stolen device token alone is not enough)."""
    if not (user.totp_secret or user.pin_hash):
        return
    if not current:
        raise Unauthorized(
            "a second factor is on: give the current PIN or TOTP code in 'current'",
            code="current_factor_required",
        )
    await check_second_factor(session, node, user=user, given=current, where=where)


async def start_totp(session: AsyncSession, node: Node, *, user: User) -> tuple[str, str]:
    """Issue a TOTP secret (pending until confirmed with a current code); returns (secret, otpauth URI)."""
    secret = pyotp.random_base32()
    user.totp_pending = seal_totp(node.keys, secret, user_id=user.id)
    await session.commit()
    return secret, pyotp.TOTP(secret).provisioning_uri(name=user.phone, issuer_name="msgfleet")


async def confirm_totp(
    session: AsyncSession, node: Node, *, user: User, otp: str, current: str | None
) -> None:
    """Make the pending secret the TOTP factor: ``otp`` from it, and ``current`` if a factor is on."""
    if not user.totp_pending:
        raise Conflict("no TOTP secret pending; POST /v1/account/2fa/totp first", code="no_pending_totp")
    await _current_factor(session, node, user=user, current=current, where="totp.confirm")
    pending = open_totp(node.keys, user.totp_pending, user_id=user.id)
    if not pyotp.TOTP(pending).verify(otp, valid_window=1):
        raise Unauthorized("wrong TOTP code", code="second_factor_invalid")
    user.totp_secret, user.totp_pending = user.totp_pending, None
    await audit.record(session, action="2fa.totp_enabled", actor=user.id, target=user.id)
    await session.commit()


async def set_pin(session: AsyncSession, node: Node, *, user: User, pin: str, current: str | None) -> None:
    await _current_factor(session, node, user=user, current=current, where="pin.set")
    user.pin_hash = hash_pin(pin)
    await audit.record(session, action="2fa.pin_set", actor=user.id, target=user.id)
    await session.commit()


async def disable_second_factor(session: AsyncSession, node: Node, *, user: User, otp: str) -> None:
    if not (user.totp_secret or user.pin_hash):
        raise Conflict("no second factor is enabled", code="no_second_factor")
    await check_second_factor(session, node, user=user, given=otp, where="disable")
    user.totp_secret = user.totp_pending = user.pin_hash = None
    await audit.record(session, action="2fa.disabled", actor=user.id, target=user.id)
    await session.commit()
