"""``/v1/devices/link``: sign a new device in by a code that a signed-in device of the account approves
(messenger/identity/devicelink.py, docs/IDENTITY.md)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import Field

from messenger.api.auth import LoginOut, Phone, _client_ip
from messenger.api.deps import CurrentDevice, NodeDep, SessionDep
from messenger.api.schemas import Body, Out
from messenger.identity import devicelink

router = APIRouter(prefix="/v1/devices/link", tags=["devices"])


class LinkIn(Body):
    phone: Phone = Field(description="the account to join; only its devices can approve")
    device_name: str = Field(min_length=1, max_length=64)
    platform: str = Field(min_length=1, max_length=32)


class LinkOut(Out):
    link_id: str
    code: str = Field(description="to type on the signed-in device, e.g. 7K3M-Q9XA")
    qr_payload: str = Field(description="the same code as a URI for a QR code: msgfleet://link/<code>")
    poll_secret: str = Field(description="only the new device knows it: claim with it")
    expires_at: float


class ApprovedOut(Out):
    link_id: str
    device_name: str
    platform: str


class ClaimIn(Body):
    link_id: str = Field(min_length=1, max_length=40)
    poll_secret: str = Field(min_length=1, max_length=128)


@router.post("", status_code=201)
async def start_link(body: LinkIn, request: Request, session: SessionDep, node: NodeDep) -> LinkOut:
    """A new device asks for a code (no token); 429 past the per-address limit."""
    started = await devicelink.start(
        session,
        node,
        phone=body.phone,
        device_name=body.device_name,
        platform=body.platform,
        client_ip=_client_ip(request),
    )
    return LinkOut(
        link_id=started.link_id,
        code=started.code,
        qr_payload=started.qr_payload,
        poll_secret=started.poll_secret,
        expires_at=started.expires_at,
    )


@router.post("/{code}/approve")
async def approve_link(code: str, session: SessionDep, node: NodeDep, device: CurrentDevice) -> ApprovedOut:
    """A signed-in device approves the code for its own account (403 another account's code)."""
    link = await devicelink.approve(session, node, device=device, code=code)
    return ApprovedOut(link_id=link.id, device_name=link.device_name, platform=link.platform)


@router.post("/claim", response_model=LoginOut, responses={202: {"description": "not approved yet"}})
async def claim_link(body: ClaimIn, session: SessionDep, node: NodeDep) -> Response:
    """The new device polls: 202 until approved, then 200 with its own device and token (once)."""
    login = await devicelink.claim(session, node, link_id=body.link_id, poll_secret=body.poll_secret)
    if login is None:
        return JSONResponse({"status": "pending"}, status_code=202)
    out = LoginOut(user_id=login.user_id, device_id=login.device_id, token=login.token, new_user=False)
    return JSONResponse(out.model_dump(), status_code=200)
