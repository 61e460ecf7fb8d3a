"""``/v1/account``: the caller's account and its optional second factor (TOTP or PIN)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from pydantic import Field

from messenger.api.deps import CurrentDevice, SessionDep
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


class OtpIn(Body):
    otp: str = Field(min_length=4, max_length=16)


class PinIn(Body):
    pin: str = Field(pattern=r"^\d{4,12}$")


async def _user(session: SessionDep, device: CurrentDevice) -> User:
    user = await session.get(User, device.user_id)
    assert user is not None  # devices cascade with their user
    return user


@router.get("")
async def get_account(session: SessionDep, device: CurrentDevice) -> AccountOut:
    user = await _user(session, device)
    return AccountOut(user_id=user.id, phone=user.phone, totp=bool(user.totp_secret), pin=bool(user.pin_hash))


@router.post("/2fa/totp")
async def start_totp(session: SessionDep, device: CurrentDevice) -> TotpOut:
    """Issue a TOTP secret; it protects logins once confirmed with ``/2fa/totp/confirm``."""
    secret, uri = await accounts.start_totp(session, user=await _user(session, device))
    return TotpOut(secret=secret, provisioning_uri=uri)


@router.post("/2fa/totp/confirm", status_code=204)
async def confirm_totp(body: OtpIn, session: SessionDep, device: CurrentDevice) -> Response:
    await accounts.confirm_totp(session, user=await _user(session, device), otp=body.otp)
    return Response(status_code=204)


@router.put("/2fa/pin", status_code=204)
async def set_pin(body: PinIn, session: SessionDep, device: CurrentDevice) -> Response:
    """Set a 4-12 digit PIN that every later login must give in ``otp``."""
    await accounts.set_pin(session, user=await _user(session, device), pin=body.pin)
    return Response(status_code=204)


@router.post("/2fa/disable", status_code=204)
async def disable(body: OtpIn, session: SessionDep, device: CurrentDevice) -> Response:
    """Turn the second factor off; needs a current TOTP code or the PIN."""
    await accounts.disable_second_factor(session, user=await _user(session, device), otp=body.otp)
    return Response(status_code=204)
