"""``/v1/auth``: request a one-time code, verify it (creates the user on first login, and a device)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request, Response
from pydantic import Field

from messenger.api.deps import NodeDep, SessionDep
from messenger.api.schemas import Body, Out
from messenger.scim import service as scim
from messenger.services import accounts

router = APIRouter(prefix="/v1/auth", tags=["auth"])

Phone = Annotated[str, Field(min_length=2, max_length=16, examples=["+79991234567"])]


class CodeRequest(Body):
    phone: Phone


class VerifyRequest(Body):
    phone: Phone
    code: str = Field(pattern=r"^\d{6}$")
    device_name: str = Field(min_length=1, max_length=64)
    platform: str = Field(min_length=1, max_length=32)
    otp: str | None = Field(None, min_length=4, max_length=16, description="TOTP code or PIN if 2FA is on")


class LoginOut(Out):
    user_id: str
    device_id: str
    token: str
    new_user: bool


def _client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@router.post("/request-code", status_code=202, response_class=Response)  # 202, no body
async def request_code(body: CodeRequest, request: Request, session: SessionDep, node: NodeDep) -> Response:
    """Send a 6-digit code to ``phone`` (valid 5 minutes). 429 + Retry-After when rate-limited."""
    await accounts.request_code(session, node, phone=body.phone, client_ip=_client_ip(request))
    return Response(status_code=202)


@router.post("/verify")
async def verify(body: VerifyRequest, request: Request, session: SessionDep, node: NodeDep) -> LoginOut:
    """Exchange phone + code (+ second factor) for a new device and its bearer token. 429 + Retry-After
    past the per-address or node-wide verify limits, or while wrong second factors lock the account."""
    login = await accounts.verify(
        session,
        node,
        phone=body.phone,
        code=body.code,
        device_name=body.device_name,
        platform=body.platform,
        otp=body.otp,
        client_ip=_client_ip(request),
    )
    if login.new_user:  # an organisation may have provisioned this number already: join its group chats
        await scim.link_account(session, phone=body.phone, state=node.settings.state)
    return LoginOut(
        user_id=login.user_id, device_id=login.device_id, token=login.token, new_user=login.new_user
    )
