"""``/v1/auth/oidc``: sign-in with the state's identity providers (OpenID Connect, docs/IDENTITY.md).

A client without a browser of the node's own: ``start`` gives the authorization URL to open (the app's
browser tab or web view) and the ``state``; the provider redirects to the app's ``redirect_uri`` with
``code`` and ``state``, which the app posts to ``callback``. With ``Authorization: Bearer`` on both,
the identity is linked to the signed-in account instead of signing in.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request
from pydantic import Field
from sqlalchemy import select

from messenger.api.auth import _client_ip
from messenger.api.deps import NodeDep, SessionDep, bearer_token, device_for_token
from messenger.api.schemas import Body, Out
from messenger.db.models import Device, User
from messenger.identity import service
from messenger.node import Node
from messenger.scim import service as scim

router = APIRouter(prefix="/v1/auth/oidc", tags=["auth"])
ProviderName = Annotated[str, Field(max_length=32)]


async def startup(node: Node) -> None:
    node.features["identity"] = service.Identity.open()


async def shutdown(node: Node) -> None:
    await service.identity_of(node).http.aclose()


async def _caller(session: SessionDep, authorization: str | None) -> Device | None:
    return None if authorization is None else await device_for_token(session, bearer_token(authorization))


class ProviderOut(Out):
    name: str
    display_name: str


class StartOut(Out):
    authorization_url: str = Field(
        description="open at the provider; it redirects to the app with code+state"
    )
    state: str
    expires_at: float


class CallbackIn(Body):
    code: str = Field(min_length=1, max_length=2048)
    state: str = Field(min_length=1, max_length=256)
    device_name: str | None = Field(
        None, min_length=1, max_length=64, description="signing in: the new device"
    )
    platform: str | None = Field(None, min_length=1, max_length=32)
    otp: str | None = Field(None, min_length=4, max_length=16, description="TOTP code or PIN if 2FA is on")


class CallbackOut(Out):
    user_id: str
    provider: str
    linked: bool = Field(description="this callback linked the identity to the account")
    new_user: bool
    device_id: str | None = Field(description="the new device (absent when a signed-in caller linked)")
    token: str | None


@router.get("/providers")
async def providers(node: NodeDep) -> list[ProviderOut]:
    """The identity providers of this node's state."""
    clients = service.identity_of(node).clients
    return [ProviderOut(name=c.config.name, display_name=c.config.display_name) for c in clients.values()]


@router.post("/{provider}/start")
async def start(
    provider: str,
    request: Request,
    session: SessionDep,
    node: NodeDep,
    authorization: Annotated[str | None, Header()] = None,
) -> StartOut:
    """Begin a sign-in (or, with a token, a link): 404 unknown provider, 503 provider unreachable."""
    caller = await _caller(session, authorization)
    started = await service.start(
        session,
        node,
        provider=provider,
        user_id=caller.user_id if caller else None,
        client_ip=_client_ip(request),
    )
    return StartOut(
        authorization_url=started.authorization_url, state=started.state, expires_at=started.expires_at
    )


@router.post("/{provider}/callback")
async def callback(
    provider: str,
    body: CallbackIn,
    request: Request,
    session: SessionDep,
    node: NodeDep,
    authorization: Annotated[str | None, Header()] = None,
) -> CallbackOut:
    """Finish it: the code is exchanged at the provider and the ID token checked (401 ``oidc_*`` codes
    name the failed check; 400/409 for a bad, expired or replayed state or code; 502/503 provider)."""
    caller = await _caller(session, authorization)
    out = await service.callback(
        session,
        node,
        provider=provider,
        code=body.code,
        state=body.state,
        caller=caller,
        device_name=body.device_name,
        platform=body.platform,
        otp=body.otp,
        client_ip=_client_ip(request),
    )
    login = out.login
    if login and login.new_user:  # as after an SMS sign-up: an organisation may have provisioned the number
        phone = await session.scalar(select(User.phone).where(User.id == out.user_id))
        if phone:
            await scim.link_account(session, phone=phone, state=node.settings.state)
    return CallbackOut(
        user_id=out.user_id,
        provider=out.provider,
        linked=out.linked,
        new_user=login.new_user if login else False,
        device_id=login.device_id if login else None,
        token=login.token if login else None,
    )
