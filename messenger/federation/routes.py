"""Federation routes: ``/.well-known/msgfleet`` and the signed ``/_federation/v1/...`` endpoints.

Every ``/_federation`` request must be signed by a configured peer (``messenger.federation.signing``)
and carry a nonce not seen inside the skew window (kept in ``fed_counters``, so every worker refuses
a replay); a refused one (unknown or forbidden origin, bad signature, clock skew, replay) is counted,
and the first of each minute per origin and reason logged and audited (``refusals``); nothing of it is
stored. Each route then checks what the origin may ask for: a peer speaks only for its own users and
for the chats, calls and meetings it hosts (``inbox``, ``calls``, ``meetings``), and reads prekeys
only of users its users share a chat with, at a bounded rate (``query_devices``).
"""

from __future__ import annotations

import json
import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.exc import IntegrityError

from messenger.api.deps import NodeDep
from messenger.billing.service import node_tariffs
from messenger.calls.peers import CALL_PEERS
from messenger.errors import BadRequest, NotFound, RateLimited
from messenger.federation.calls import ROUNDING, CallRelay
from messenger.federation.counters import bump
from messenger.federation.directory import keys_to_wire, related_users
from messenger.federation.errors import FederationForbidden, Refused
from messenger.federation.inbox import ATTESTERS, MAX_CIPHERTEXT, STORED, apply_txn
from messenger.federation.media import FETCH_PATH, FetchIn, serve
from messenger.federation.meetings import MeetingRelay
from messenger.federation.metrics import TXNS_RECEIVED
from messenger.federation.models import OPS_PENDING
from messenger.federation.ops import run_pending
from messenger.federation.refusals import refuse
from messenger.federation.service import FEATURE, Federation, federation_of, well_known
from messenger.federation.signing import (
    MAX_SKEW_S,
    NONCE,
    ORIGIN,
    TIMESTAMP,
    SignatureRefused,
    verify_headers,
)
from messenger.identity import service as identity
from messenger.media.service import Media
from messenger.meetings.peers import MEETING_PEERS
from messenger.metrics import MESSAGES_STORED, REPLIES_STORED
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
        else:
            if not await _first_use(node, origin, request.headers[NONCE], float(request.headers[TIMESTAMP])):
                error = Refused("this request was received before (a replay)", code="replayed")
    if error is not None:
        code = getattr(error, "code", "refused")
        client = request.client.host if request.client else ""
        await refuse(
            node.sessions,
            reason=code,
            origin=origin,
            peers=fed.config.peers,
            path=target,
            client=client,
            detail=str(error),
        )
        raise error
    try:
        return Signed(origin=origin, body=json.loads(body) if body else None)
    except ValueError:
        raise BadRequest("request body is not valid JSON", code="malformed_json") from None


SignedDep = Annotated[Signed, Depends(signed)]


async def _first_use(node: Node, origin: str, nonce: str, sent: float) -> bool:
    """Count the request's nonce; ``False`` if any worker counted it before. A nonce is kept until its
    timestamp is out of the skew window (after that the signature check refuses the request anyway)."""
    async with node.sessions() as session:
        seen = await bump(session, "nonce", f"{origin}|{nonce}", window_s=None, expires_at=sent + MAX_SKEW_S)
        await _fed(node).pruner.maybe(session)
        await session.commit()
    return seen == 1


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
        session.info[ATTESTERS] = _fed(node).attesters
        session.info[MAX_CIPHERTEXT] = node.settings.max_ciphertext_bytes
        applied = await apply_txn(
            session, local=node.settings.state, origin=req.origin, txn_id=txn_id, pdus=txn.pdus
        )
        ops = session.info.pop(OPS_PENDING, False)
        stored, replies = session.info.pop(STORED, (0, 0))
        for key in (MAX_CIPHERTEXT, ROUNDING, ATTESTERS):
            session.info.pop(key, None)
        try:
            await session.commit()
        except IntegrityError:  # the same transaction applied concurrently (a retry racing its original)
            await session.rollback()
            applied = ops = False
            stored = replies = 0
    MESSAGES_STORED.inc(stored)
    REPLIES_STORED.inc(replies)
    if ops:
        await run_pending(node.sessions, node.settings.state, rounding)
    TXNS_RECEIVED.labels(req.origin, "applied" if applied else "duplicate").inc()
    return {"txn_id": txn_id, "applied": applied}


# Prekey claims a peer may make per user in a window: enough for its users to open sessions with a
# chat partner's devices now and then, not to drain the 10..100 one-time prekeys a device uploads.
CLAIMS_PER_WINDOW, CLAIM_WINDOW_S = 5, 600.0


@router.post("/_federation/v1/query/devices")
async def query_devices(req: SignedDep, node: NodeDep) -> list[dict[str, object]]:
    """Active devices and public keys of users homed here (``claim``: one one-time prekey each, only of
    users who share a chat with a user of the asking state, ``CLAIMS_PER_WINDOW`` per user per window)."""
    query = _parse(UsersIn, req.body)
    local = sorted({u for u in query.user_ids if home_state(u) == node.settings.state})
    async with node.sessions() as session:
        if query.claim:
            local = await related_users(session, local, req.origin)
            for user_id in local:
                count = await bump(
                    session,
                    "claim",
                    f"{req.origin}|{user_id}",
                    window_s=CLAIM_WINDOW_S,
                    expires_at=time.time() + CLAIM_WINDOW_S,
                )
                if count > CLAIMS_PER_WINDOW:
                    await session.commit()
                    raise RateLimited(
                        f"{req.origin} claimed prekeys of {user_id} {CLAIMS_PER_WINDOW} times in "
                        f"{CLAIM_WINDOW_S:.0f} s",
                        retry_after=int(CLAIM_WINDOW_S - time.time() % CLAIM_WINDOW_S) + 1,
                        code="claim_rate_limited",
                    )
        found = await user_devices(session, user_ids=local, claim=query.claim)
        verified = await identity.verified_by(session, sorted({k.user_id for k in found}))
        await session.commit()
    return keys_to_wire(found, verified)


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
