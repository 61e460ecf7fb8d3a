"""``/v1/account``: the caller's account and its optional second factor (TOTP or PIN)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from pydantic import Field

from messenger.api.deps import CurrentDevice, NodeDep, SessionDep
from messenger.api.schemas import Body, Out
from messenger.db.models import User
from messenger.services import accounts

router = APIRouter(prefix="/v1/account", tags=["account"])


class AccountOut(Out):
    user_id: str
    phone: str
    totp: bool
    pin: bool


class TotpOut(Out):
    secret: str
    provisioning_uri: str


CURRENT = "the PIN or a TOTP code in force; required when a second factor is on"


class OtpIn(Body):
    otp: str = Field(min_length=4, max_length=16)


class ConfirmIn(Body):
    otp: str = Field(min_length=4, max_length=16, description="a code of the new TOTP secret")
    current: str | None = Field(None, min_length=4, max_length=16, description=CURRENT)


class PinIn(Body):
    pin: str = Field(pattern=r"^\d{4,12}$")
    current: str | None = Field(None, min_length=4, max_length=16, description=CURRENT)


async def _user(session: SessionDep, device: CurrentDevice) -> User:
    user = await session.get(User, device.user_id)
    assert user is not None  # devices cascade with their user
    return user


@router.get("")
async def get_account(session: SessionDep, device: CurrentDevice) -> AccountOut:
    user = await _user(session, device)
    return AccountOut(user_id=user.id, phone=user.phone, totp=bool(user.totp_secret), pin=bool(user.pin_hash))


@router.post("/2fa/totp")
async def start_totp(session: SessionDep, node: NodeDep, device: CurrentDevice) -> TotpOut:
    """Issue a TOTP secret; it protects logins once confirmed with ``/2fa/totp/confirm``."""
    secret, uri = await accounts.start_totp(session, node, user=await _user(session, device))
    return TotpOut(secret=secret, provisioning_uri=uri)


@router.post("/2fa/totp/confirm", status_code=204)
async def confirm_totp(
    body: ConfirmIn, session: SessionDep, node: NodeDep, device: CurrentDevice
) -> Response:
    """Turn the pending secret on with one of its codes (and ``current`` if a factor is already on)."""
    user = await _user(session, device)
    await accounts.confirm_totp(session, node, user=user, otp=body.otp, current=body.current)
    return Response(status_code=204)


@router.put("/2fa/pin", status_code=204)
async def set_pin(body: PinIn, session: SessionDep, node: NodeDep, device: CurrentDevice) -> Response:
    """Set a 4-12 digit PIN that every later login must give in ``otp``; replacing one needs ``current``."""
    user = await _user(session, device)
    await accounts.set_pin(session, node, user=user, pin=body.pin, current=body.current)
    return Response(status_code=204)


@router.post("/2fa/disable", status_code=204)
async def disable(body: OtpIn, session: SessionDep, node: NodeDep, device: CurrentDevice) -> Response:
    """Turn the second factor off; needs a current TOTP code or the PIN. Wrong ones count toward the
    account's backoff (429 + Retry-After) and are audited."""
    await accounts.disable_second_factor(session, node, user=await _user(session, device), otp=body.otp)
    return Response(status_code=204)
