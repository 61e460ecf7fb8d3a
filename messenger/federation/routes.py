"""Federation routes: ``/.well-known/msgfleet`` and the signed ``/_federation/v1/...`` endpoints.

Every ``/_federation`` request must be signed by a configured peer (``messenger.federation.signing``);
a refused one (unknown or forbidden origin, bad signature, clock skew) is logged and audited, and
nothing of it is stored.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.exc import IntegrityError

from messenger.api.deps import NodeDep
from messenger.billing.service import node_tariffs
from messenger.calls.peers import CALL_PEERS
from messenger.errors import BadRequest, NotFound
from messenger.federation.calls import ROUNDING, CallRelay
from messenger.federation.directory import keys_to_wire
from messenger.federation.errors import FederationForbidden, Refused
from messenger.federation.inbox import ACTIVE_DEVICES, apply_txn
from messenger.federation.media import FETCH_PATH, FetchIn, serve
from messenger.federation.meetings import MeetingRelay
from messenger.federation.metrics import TXNS_RECEIVED
from messenger.federation.models import OPS_PENDING
from messenger.federation.ops import run_pending
from messenger.federation.refusals import refuse
from messenger.federation.service import FEATURE, Federation, federation_of, well_known
from messenger.federation.signing import ORIGIN, SignatureRefused, verify_headers
from messenger.media.service import Media
from messenger.meetings.peers import MEETING_PEERS
from messenger.node import Node
from messenger.services.ids import home_state
from messenger.services.keys import user_devices

router = APIRouter(tags=["federation"])


async def startup(node: Node) -> None:
    fed = Federation.create(node)
    node.features[FEATURE] = fed
    node.chat_hooks.append(fed.relay)
    # Every session gets the call and meeting hooks (``messenger.{calls,meetings}.peers``), like chat hooks.
    info = node.sessions.kw.setdefault("info", {})
    reachable = frozenset(s for s in fed.config.peers if fed.config.allowed(s))
    info[CALL_PEERS] = CallRelay(node.settings.state)
    info[MEETING_PEERS] = MeetingRelay(node.settings.state, reachable)
    await run_pending(node.sessions, node.settings.state, node_tariffs(node).minute_rounding)
    fed.sender.start()


async def shutdown(node: Node) -> None:
    fed = federation_of(node)
    if fed is not None:
        await fed.stop()


def _fed(node: Node) -> Federation:
    fed = federation_of(node)
    assert fed is not None  # set in startup()
    return fed


class Signed(BaseModel):
    """A verified request: its origin state and parsed JSON body."""

    origin: str
    body: Any


async def signed(request: Request, node: NodeDep) -> Signed:
    """Verify the request's signature headers; refuse (401/403), log and audit otherwise."""
    fed = _fed(node)
    origin = request.headers.get(ORIGIN, "")
    body = await request.body()
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    error: Exception | None = None
    if not origin:
        error = Refused("sign the request (X-Msgfleet-Origin, -Timestamp, -Signature)", code="unsigned")
    elif not fed.config.allowed(origin):
        error = FederationForbidden(f"this state's policy forbids federation with {origin}")
    elif origin not in fed.config.peers:
        error = Refused(f"{origin} is not a configured peer", code="unknown_origin")
    else:
        try:
            verify_headers(
                request.headers,
                verify_key=fed.config.peers[origin].verify_key,
                method=request.method,
                target=target,
                body=body,
                destination=fed.state,
            )
        except SignatureRefused as exc:
            error = Refused(exc.detail, code=exc.reason)
    if error is not None:
        code = getattr(error, "code", "refused")
        client = request.client.host if request.client else ""
        await refuse(node.sessions, reason=code, origin=origin, path=target, client=client, detail=str(error))
        raise error
    try:
        return Signed(origin=origin, body=json.loads(body) if body else None)
    except ValueError:
        raise BadRequest("request body is not valid JSON", code="malformed_json") from None


SignedDep = Annotated[Signed, Depends(signed)]


def _parse(model: type[BaseModel], body: Any) -> Any:
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise BadRequest(
            f"invalid federation body: {exc.errors()[0]['msg']}", code="validation_error"
        ) from None


class TxnIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    pdus: list[dict[str, Any]] = Field(max_length=1000)


class UsersIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user_ids: list[str] = Field(max_length=1000)
    claim: bool = False


@router.get("/.well-known/msgfleet")
async def well_known_route(node: NodeDep) -> dict[str, Any]:
    """This node's state, base URL and federation public key (Ed25519, base64)."""
    return well_known(_fed(node))


@router.put("/_federation/v1/send/{txn_id}")
async def send(txn_id: str, req: SignedDep, node: NodeDep) -> dict[str, Any]:
    """Apply a transaction of PDUs from ``origin`` once; a replayed ``txn_id`` is acknowledged only."""
    if not 0 < len(txn_id) <= 40:
        raise BadRequest("txn_id must be 1..40 characters", code="invalid_txn")
    txn = _parse(TxnIn, req.body)
    rounding = node_tariffs(node).minute_rounding
    async with node.sessions() as session:
        session.info[ROUNDING] = rounding
        applied = await apply_txn(
            session, local=node.settings.state, origin=req.origin, txn_id=txn_id, pdus=txn.pdus
        )
        ops = session.info.pop(OPS_PENDING, False)
        session.info.pop(ACTIVE_DEVICES, None)
        session.info.pop(ROUNDING, None)
        try:
            await session.commit()
        except IntegrityError:  # the same transaction applied concurrently (a retry racing its original)
            await session.rollback()
            applied = ops = False
    if ops:
        await run_pending(node.sessions, node.settings.state, rounding)
    TXNS_RECEIVED.labels(req.origin, "applied" if applied else "duplicate").inc()
    return {"txn_id": txn_id, "applied": applied}


@router.post("/_federation/v1/query/devices")
async def query_devices(req: SignedDep, node: NodeDep) -> list[dict[str, object]]:
    """Active devices and public keys of users homed here (``claim``: one one-time prekey each)."""
    query = _parse(UsersIn, req.body)
    local = [u for u in query.user_ids if home_state(u) == node.settings.state]
    async with node.sessions() as session:
        found = await user_devices(session, user_ids=local, claim=query.claim)
        await session.commit()
    return keys_to_wire(found)


@router.post(FETCH_PATH, response_class=StreamingResponse)
async def media_fetch(req: SignedDep, node: NodeDep) -> StreamingResponse:
    """Media shared in a chat where the asking state has a member (``messenger.federation.media``)."""
    body: FetchIn = _parse(FetchIn, req.body)
    media: Media | None = node.features.get("media")
    if media is None:
        raise NotFound(f"media {body.media_id} not found", code="media_not_found")
    async with node.sessions() as session:
        return await serve(session, media, origin=req.origin, media_id=body.media_id, chat_id=body.chat_id)


@router.post("/_federation/v1/query/users")
async def query_users(req: SignedDep, node: NodeDep) -> dict[str, list[str]]:
    """Which of ``user_ids`` are users homed here."""
    from sqlalchemy import select

    from messenger.db.models import User

    query = _parse(UsersIn, req.body)
    local = [u for u in query.user_ids if home_state(u) == node.settings.state]
    async with node.sessions() as session:
        known = list(await session.scalars(select(User.id).where(User.id.in_(local))))
        await session.commit()
    return {"known": sorted(known)}
