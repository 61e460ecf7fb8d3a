"""A provider that fails mid-deletion rolls the whole deletion back: nothing is half-erased."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from dr_scan import scan
from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from messenger.datarights.erase import erase_account
from messenger.datarights.registry import Context, Provider, providers
from messenger.db.models import AuditEntry, User
from messenger.keystore import SESSION_INFO, open_keystore
from messenger.media.crypto import KeyWrapper
from messenger.media.service import Media
from messenger.media.settings import load_media_settings
from messenger.media.store import open_store
from messenger.settings import load_settings


class Refused(Exception):
    pass


async def _export(ctx: Context) -> Mapping[str, Any]:
    return {}


async def _refuse(ctx: Context) -> Mapping[str, int]:
    raise Refused("storage said no")


async def test_failed_provider_rolls_everything_back(drnode: Any, signup: Any) -> None:
    alice, bob = await signup(node_=drnode), await signup(node_=drnode)
    chat = await alice.create_group([bob.user_id], "atomic")
    await alice.send(chat, "still mine")
    await alice.request("POST", f"/v1/chats/{chat}/locations", json={"lat": 1.0, "lon": 2.0})
    before = await scan(drnode.db_url, [alice.user_id])

    settings = load_media_settings()
    keys = open_keystore(load_settings(state="RU-MOW", data_dir=drnode.data_dir))  # the node's keys
    media = Media(settings, await open_store(settings, drnode.data_dir), KeyWrapper(keys))
    engine = create_async_engine(drnode.db_url)
    try:
        async with async_sessionmaker(engine, expire_on_commit=False, info={SESSION_INFO: keys})() as session:
            user = await session.get(User, alice.user_id)
            assert user is not None
            failing = Provider(name="refusing", covers={}, export=_export, erase=_refuse)
            with pytest.raises(Refused):
                await erase_account(session, media, user=user, items=[*providers(), failing])
        async with engine.connect() as conn:
            deleted = select(AuditEntry.seq).where(
                AuditEntry.action == "account.deleted", AuditEntry.target == alice.user_id
            )
            assert (await conn.execute(deleted)).all() == []
    finally:
        await engine.dispose()
        await media.store.close()

    assert await scan(drnode.db_url, [alice.user_id]) == before
    assert before["users.id"] == 1 and before["members.user_id"] == 1 and before["locations.user_id"] == 1
    assert [m["text"] for m in await bob.history(chat)] == ["still mine"]
    assert (await alice.http.get("/v1/account")).status_code == 200
