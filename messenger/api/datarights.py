"""Data rights: ``GET /v1/account/export`` (zip of JSON + media), ``DELETE /v1/account``; retention sweeps."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time

from fastapi import APIRouter, Response
from fastapi.responses import FileResponse
from pydantic import Field
from starlette.background import BackgroundTask

from messenger import audit
from messenger.api.deps import CurrentDevice, NodeDep, SessionDep
from messenger.api.schemas import Body
from messenger.billing import tally
from messenger.datarights import erase, export, retention
from messenger.datarights.registry import Context
from messenger.datarights.settings import load_retention_settings
from messenger.db.models import User
from messenger.errors import BadRequest, Unauthorized
from messenger.media.service import Media
from messenger.node import Node
from messenger.services.accounts import check_second_factor

router = APIRouter(prefix="/v1/account", tags=["data rights"])


async def startup(node: Node) -> None:
    """Keep message counts of deleted chats for bills; start the retention sweeper when
    ``MSGFLEET_RETENTION_RULES`` names a kind with a limit."""
    tally.install()
    settings = load_retention_settings()
    rules = settings.active()
    if rules:
        media: Media = node.features["media"]
        node.features["retention"] = asyncio.create_task(
            retention.run_forever(node.sessions, media, rules, settings.interval_seconds)
        )


async def shutdown(node: Node) -> None:
    task: asyncio.Task[None] | None = node.features.pop("retention", None)
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


class DeleteAccountIn(Body):
    phone: str = Field(max_length=16, description="the account's phone number, as confirmation")
    otp: str | None = Field(None, max_length=16, description="TOTP code or PIN when 2FA is on")


async def _user(session: SessionDep, device: CurrentDevice) -> User:
    user = await session.get(User, device.user_id)
    assert user is not None  # devices cascade with their user
    return user


@router.get("/export", response_class=FileResponse)
async def export_data(device: CurrentDevice, session: SessionDep, node: NodeDep) -> FileResponse:
    """A zip: ``account.json`` (every registered provider's sections, one transaction; see docs/API.md)
    and ``media/<sha256>.<ext>`` for every upload."""
    user = await _user(session, device)
    media: Media = node.features["media"]
    async with node.read_session() as reader:  # one snapshot for every provider, no write lock held
        if reader.get_bind().dialect.name == "postgresql":
            await reader.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        ctx = Context(session=reader, subject=await erase.subject_of(reader, user), media=media)
        data = await export.collect(ctx)
    sizes = {name: len(value) for name, value in data.items() if isinstance(value, list)}
    await audit.record(session, action="data.exported", actor=user.id, target=user.id, detail=sizes)
    await session.commit()
    folder = node.settings.data_dir / "exports"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{secrets.token_hex(12)}.zip"
    try:
        await export.write_zip(path, data, ctx.files, media)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return FileResponse(
        path,
        media_type="application/zip",
        filename=f"msgfleet-export-{time.strftime('%Y%m%d', time.gmtime())}.zip",
        background=BackgroundTask(path.unlink, missing_ok=True),
    )


@router.delete("", status_code=204)
async def delete_account(
    body: DeleteAccountIn, device: CurrentDevice, session: SessionDep, node: NodeDep
) -> Response:
    """Delete the caller's account and data; needs the phone number (and the second factor if on)."""
    user = await _user(session, device)
    if body.phone != user.phone:
        raise BadRequest("phone does not match this account", code="confirmation_mismatch")
    if user.totp_secret or user.pin_hash:
        if not body.otp:
            raise Unauthorized(
                "this account has a second factor: send a current otp", code="second_factor_invalid"
            )
        await check_second_factor(session, node, user=user, given=body.otp, where="account.delete")
    erased = await erase.erase_account(session, node.features["media"], user=user)
    await node.hub.revoke(erased.device_ids)
    return Response(status_code=204)
