"""``/v1/channels``: create, subscribe, owners, post (202, fan-out in the background), posts, read, stats."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from pydantic import Field

from messenger.api.deps import CurrentDevice, NodeDep, ReaderDep, SessionDep, TokenHash
from messenger.api.schemas import Body, DbInt, Out
from messenger.channels import service
from messenger.channels.fanout import Fanout
from messenger.db.models.channels import Channel, ChannelMember
from messenger.node import Node
from messenger.services import reads

router = APIRouter(prefix="/v1/channels", tags=["channels"])

_runners: dict[int, Fanout] = {}  # id(node) -> its fan-out runner (one node per process in practice)


async def startup(node: Node) -> None:
    runner = Fanout(node.sessions, node.hub)
    _runners[id(node)] = runner
    await runner.resume_pending()


async def shutdown(node: Node) -> None:
    runner = _runners.pop(id(node), None)
    if runner is not None:
        await runner.stop()


class ChannelIn(Body):
    title: str = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=2000)


class ChannelOut(Out):
    id: str
    title: str
    description: str
    subscribers: int
    last_seq: int
    role: str | None
    last_read_seq: int | None


class PostIn(Body):
    text: str = Field(min_length=1, max_length=4096)


class PostedOut(Out):
    id: str
    seq: int
    ts: float


class PostOut(Out):
    id: str
    seq: int
    author: str
    text: str
    ts: float


class ReadIn(Body):
    seq: DbInt = Field(gt=0)


class ReadOut(Out):
    last_read_seq: int


class StatsOut(Out):
    seq: int
    members: int = Field(description="current owners + subscribers")
    delivered_members: int
    delivered_devices: int
    read: int = Field(description="members whose read marker is at or after this post")
    fanout_done: bool
    fanout_seconds: float | None


def _out(channel: Channel, member: ChannelMember | None) -> ChannelOut:
    return ChannelOut(
        id=channel.id,
        title=channel.title,
        description=channel.description,
        subscribers=channel.subscribers,
        last_seq=channel.last_seq,
        role=member.role if member else None,
        last_read_seq=member.last_read_seq if member else None,
    )


@router.post("", status_code=201)
async def create(body: ChannelIn, session: SessionDep, device: CurrentDevice) -> ChannelOut:
    channel = await service.create(
        session, owner=device.user_id, title=body.title, description=body.description
    )
    member = await service.membership(session, channel_id=channel.id, user_id=device.user_id)
    return _out(channel, member)


@router.get("")
async def mine(reader: ReaderDep, token: TokenHash) -> list[ChannelOut]:
    return [ChannelOut.model_validate(c) for c in await reads.channels(reader, token_hash=token)]


@router.get("/{channel_id}")
async def show(channel_id: str, session: SessionDep, device: CurrentDevice) -> ChannelOut:
    """Any user may look a channel up (to subscribe); posts need a subscription."""
    channel = await service.get_channel(session, channel_id)
    return _out(channel, await service.membership(session, channel_id=channel_id, user_id=device.user_id))


@router.put("/{channel_id}/subscription", status_code=204)
async def subscribe(channel_id: str, session: SessionDep, device: CurrentDevice) -> Response:
    await service.subscribe(session, channel_id=channel_id, user_id=device.user_id)
    return Response(status_code=204)


@router.delete("/{channel_id}/subscription", status_code=204)
async def unsubscribe(channel_id: str, session: SessionDep, device: CurrentDevice) -> Response:
    await service.unsubscribe(session, channel_id=channel_id, user_id=device.user_id)
    return Response(status_code=204)


@router.put("/{channel_id}/owners/{user_id}", status_code=204)
async def add_owner(channel_id: str, user_id: str, session: SessionDep, device: CurrentDevice) -> Response:
    await service.add_owner(session, channel_id=channel_id, actor=device.user_id, user_id=user_id)
    return Response(status_code=204)


@router.post("/{channel_id}/posts", status_code=202)
async def post(
    channel_id: str, body: PostIn, session: SessionDep, device: CurrentDevice, node: NodeDep
) -> PostedOut:
    """Store the post and return at once (202); subscribers' devices get ``channel.post`` in batches."""
    item = await service.post(session, channel_id=channel_id, author=device.user_id, text=body.text)
    _runners[id(node)].start(item.id)
    return PostedOut(id=item.id, seq=item.seq, ts=item.created_at)


@router.get("/{channel_id}/posts")
async def posts(
    channel_id: str,
    session: SessionDep,
    device: CurrentDevice,
    after: Annotated[DbInt, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[PostOut]:
    await service.require_member(session, channel_id=channel_id, user_id=device.user_id)
    rows = await service.posts(session, channel_id=channel_id, after=after, limit=limit)
    return [PostOut(id=p.id, seq=p.seq, author=p.author, text=p.text, ts=p.created_at) for p in rows]


@router.post("/{channel_id}/read")
async def read(channel_id: str, body: ReadIn, session: SessionDep, device: CurrentDevice) -> ReadOut:
    member = await service.require_member(session, channel_id=channel_id, user_id=device.user_id)
    return ReadOut(last_read_seq=await service.mark_read(session, member=member, seq=body.seq))


@router.get("/{channel_id}/posts/{seq}/stats")
async def stats(channel_id: str, seq: DbInt, session: SessionDep, device: CurrentDevice) -> StatsOut:
    """Delivery and read counts of a post (owners only)."""
    await service.require_owner(session, channel_id=channel_id, user_id=device.user_id)
    result = await service.stats(session, channel_id=channel_id, seq=seq)
    return StatsOut(**result.__dict__)
