"""Messages of a chat: post (one Megolm ciphertext), history, edit, delete, read receipts."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import Field, ValidationError
from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from messenger.api.deps import ChatDevice, ChatMember, NodeDep, SessionDep, access_of, bearer_token
from messenger.api.schemas import Body, DbInt, Out, body_schema, parse_body
from messenger.db.models import Device, Member
from messenger.errors import ApiError
from messenger.federation.models import ChatHost
from messenger.federation.service import federation_of
from messenger.node import Node
from messenger.security import token_hash
from messenger.services import chats, messages
from messenger.services.ids import spans_states
from messenger.services.postbatch import Post, PostAlone, PostBatcher

router = APIRouter(prefix="/v1/chats/{chat_id}", tags=["messages"])


Ciphertext = Annotated[
    str, Field(min_length=1, description="Megolm message, base64; size limited by max_ciphertext_bytes")
]
SessionId = Annotated[str, Field(min_length=1, max_length=64, description="the sender's Megolm session id")]


class MessageIn(Body):
    client_msg_id: str = Field(
        min_length=1, max_length=64, description="idempotency key chosen by the client"
    )
    reply_to: DbInt | None = Field(None, gt=0)
    ciphertext: Ciphertext
    session_id: SessionId


class EditIn(Body):
    ciphertext: Ciphertext
    session_id: SessionId


class PostedOut(Out):
    id: str
    seq: int | None = Field(description="null (202) while the chat's hosting node in another state orders it")
    ts: float


class MessageOut(Out):
    id: str
    chat_id: str
    seq: int
    sender: str
    sender_device: str
    client_msg_id: str
    reply_to: int | None
    ts: float
    edited_at: float | None
    deleted: bool
    session_id: str | None
    ciphertext: str | None


class ReadIn(Body):
    seq: DbInt = Field(gt=0)


class ReadOut(Out):
    last_read_seq: int


_RECIPIENTS = (
    select(Member.user_id, Device.id)
    .outerjoin(Device, (Device.user_id == Member.user_id) & Device.revoked_at.is_(None))
    .where(Member.chat_id == bindparam("chat_id"))
)
_RECIPIENTS_AND_HOST = _RECIPIENTS.add_columns(ChatHost.host_state).outerjoin(
    ChatHost, ChatHost.chat_id == Member.chat_id
)


async def local_recipients(
    session: AsyncSession, chat_id: str, *, state: str, federated: bool
) -> frozenset[str] | None:
    """The chat's active devices in one query (members × devices × host), or ``None`` if the chat needs
    federation (``federated`` and a member homed in another state or the chat hosted elsewhere)."""
    query = _RECIPIENTS_AND_HOST if federated else _RECIPIENTS
    devices: set[str] = set()
    rows: list[Any] = list((await session.execute(query, {"chat_id": chat_id})).all())  # 2 or 3 columns
    for row in rows:
        user_id, device_id, host = row[0], row[1], row[2] if federated else None
        if federated and spans_states(user_id, host, state):
            return None
        if device_id is not None:
            devices.add(device_id)
    return frozenset(devices)


BATCHER = "posts"  # node.features key of this worker's PostBatcher


async def startup(node: Node) -> None:
    batcher = PostBatcher(node.sessions, node.settings)
    batcher.start()
    node.features[BATCHER] = batcher


async def shutdown(node: Node) -> None:
    await node.features.pop(BATCHER).stop()


async def send(node: Node, post: Post) -> tuple[int, str, int | None, float]:
    """Store ``post`` (HTTP or WebSocket): status (201 new, 200 retried, 202 forwarded), id, seq, ts."""
    batcher: PostBatcher | None = node.features.get(BATCHER)
    try:
        if batcher is None:
            raise PostAlone()
        posted = await batcher.submit(post)
    except PostAlone:
        return await _send_alone(node, post)
    return 201 if posted.created else 200, posted.id, posted.seq, posted.ts


async def _send_alone(node: Node, post: Post) -> tuple[int, str, int | None, float]:
    """The reference path, one transaction per post; the only one for chats spanning states: in a chat
    hosted by another state's node the message is forwarded there (202, seq null)."""
    async with node.sessions() as session:
        access = await access_of(session, post.chat_id, token_hash=post.token_hash, device_id=post.device_id)
        device, member = access.device, access.member
        fed = federation_of(node)
        local = await local_recipients(
            session, member.chat_id, state=node.settings.state, federated=fed is not None
        )
        fanout = await fed.recipients(session, member.chat_id) if fed is not None and local is None else None
        if fed is not None and fanout is not None and fanout.host != node.settings.state:
            msg_id, ts = await fed.submit(
                session,
                fanout,
                member=member,
                device=device,
                client_msg_id=post.client_msg_id,
                reply_to=post.reply_to,
                ciphertext=post.ciphertext,
                session_id=post.session_id,
            )
            return 202, msg_id, None, ts
        posted = await messages.post_message(
            session,
            node.settings,
            member=member,
            device=device,
            client_msg_id=post.client_msg_id,
            reply_to=post.reply_to,
            ciphertext=post.ciphertext,
            session_id=post.session_id,
            remote=fanout,
            local=local,
        )
        return 201 if posted.created else 200, posted.id, posted.seq, posted.ts


@router.post(
    "/messages",
    status_code=201,
    response_model=PostedOut,
    openapi_extra={"requestBody": body_schema(MessageIn)},
)
async def post_message(
    chat_id: Annotated[str, Path(max_length=40)],
    request: Request,
    authorization: Annotated[str | None, Header()] = None,
) -> JSONResponse:
    """Store and deliver a message (one ciphertext for every device of the chat); a retried
    ``client_msg_id`` returns 200 with the stored message. In a chat hosted by another state's node the
    message is forwarded there: 202 with ``seq`` null; devices get ``message.new`` once it is ordered.
    The body is ``MessageIn``, parsed here (``parse_body``: the node's hottest route)."""
    body = parse_body(MessageIn, await request.body())
    node: Node = request.app.state.node
    post = Post(
        chat_id,
        body.client_msg_id,
        body.reply_to,
        body.ciphertext,
        body.session_id,
        token_hash=token_hash(bearer_token(authorization)),
    )
    status, msg_id, seq, ts = await send(node, post)
    # The hot route returns the body itself: FastAPI's validation and encoding of a returned model cost more
    # than the rest of the response (profile, benchmarks/node_send.py); the bytes are the same (JSONResponse).
    return JSONResponse({"id": msg_id, "seq": seq, "ts": ts}, status_code=status)


class SendFrame(MessageIn):
    """``{"type": "message.send", "chat_id", "client_msg_id", "reply_to"?, "ciphertext", "session_id",
    "id"?}`` on the
    device's WebSocket: the same post as ``POST /v1/chats/{chat_id}/messages``, without a request."""

    type: Literal["message.send"]
    chat_id: str = Field(max_length=40)
    id: str | int | None = None


async def on_frame(node: Node, device_id: str, frame: dict[str, Any]) -> dict[str, Any]:
    """Handle a ``message.*`` WebSocket frame. ``message.send`` → ``{"type": "message.send.ok", "status",
    "message_id", "seq", "ts", "id"}``, status as the HTTP route's (201, 200 for a retry, 202 forwarded);
    errors → ``{"type": "error", "error", "detail", "status", "id"}``."""
    reply: dict[str, Any] = {"id": frame.get("id")} if "id" in frame else {}
    try:
        body = SendFrame.model_validate(frame)
    except ValidationError as exc:
        where = ", ".join(".".join(map(str, e["loc"])) or "frame" for e in exc.errors()[:3])
        return {"type": "error", "error": "bad_frame", "detail": f"invalid {where}", "status": 422, **reply}
    post = Post(
        body.chat_id,
        body.client_msg_id,
        body.reply_to,
        body.ciphertext,
        body.session_id,
        device_id=device_id,
    )
    try:
        status, msg_id, seq, ts = await send(node, post)
    except ApiError as exc:
        return {"type": "error", "error": exc.code, "detail": exc.detail, "status": exc.status, **reply}
    return {"type": "message.send.ok", "status": status, "message_id": msg_id, "seq": seq, "ts": ts, **reply}


@router.get("/messages")
async def history(
    member: ChatMember,
    session: SessionDep,
    after: Annotated[DbInt, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[MessageOut]:
    """Messages with seq > ``after`` with their ciphertext."""
    rows = await messages.history(session, chat_id=member.chat_id, after=after, limit=limit)
    return [MessageOut.model_validate(r) for r in rows]


@router.patch("/messages/{seq}", status_code=204)
async def edit(
    seq: DbInt, body: EditIn, member: ChatMember, device: ChatDevice, session: SessionDep, node: NodeDep
) -> Response:
    """Replace the ciphertext of one's own message. In a chat hosted by another state's node the edit is
    forwarded there: 202; devices get ``message.edited`` once it is applied."""
    fed = federation_of(node)
    fanout = await fed.recipients(session, member.chat_id) if fed is not None else None
    if fed is not None and fanout is not None and fanout.host != node.settings.state:
        await fed.submit_edit(
            session,
            fanout,
            member=member,
            device=device,
            seq=seq,
            ciphertext=body.ciphertext,
            session_id=body.session_id,
        )
        return Response(status_code=202)
    await messages.edit_message(
        session,
        node.settings,
        member=member,
        device=device,
        seq=seq,
        ciphertext=body.ciphertext,
        session_id=body.session_id,
        remote=fanout,
    )
    return Response(status_code=204)


@router.delete("/messages/{seq}", status_code=204)
async def delete(seq: DbInt, member: ChatMember, session: SessionDep, node: NodeDep) -> Response:
    fed = federation_of(node)
    if fed is not None and await fed.forward(session, member, "delete", seq=seq):
        return Response(status_code=202)  # the chat's hosting node in another state decides
    chat = await chats.get_chat(session, member.chat_id)
    await messages.delete_message(session, member=member, chat=chat, seq=seq)
    return Response(status_code=204)


@router.post("/read")
async def read(body: ReadIn, member: ChatMember, session: SessionDep) -> ReadOut:
    chat = await chats.get_chat(session, member.chat_id)
    return ReadOut(last_read_seq=await messages.mark_read(session, member=member, chat=chat, seq=body.seq))
