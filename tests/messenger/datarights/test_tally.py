"""Bills keep the message counts of chats whose rows are deleted (a federated replica that went)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import async_sessionmaker

from messenger.billing import tally
from messenger.billing.service import usage
from messenger.calls.metering import period_bounds, period_of
from messenger.db.base import now
from messenger.db.engine import make_engine
from messenger.db.migrate import upgrade
from messenger.db.models import Chat, Message
from messenger.launch import scratch_database

ALICE, BOB = "u00000000000000a1@RU-MOW", "u00000000000000b0@RU-SPE"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated scratch database: SQLite, and PostgreSQL when MSGFLEET_TEST_DATABASE_URL is set."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'tally.db'}"
        upgrade(url)
        yield url
        return
    server = os.environ.get("MSGFLEET_TEST_DATABASE_URL")
    if not server:
        pytest.skip("MSGFLEET_TEST_DATABASE_URL is not set")
    url, drop = scratch_database(server, prefix="msgfleet_datarights")
    try:
        upgrade(url)
        yield url
    finally:
        drop()


async def test_deleted_chat_keeps_its_senders_counts(db_url: str) -> None:
    tally.install()
    this = period_of(now())
    old = period_bounds("2020-01")[0] + 3600
    engine = make_engine(db_url)  # the node's engine (SQLite: foreign keys on, so the chat cascades)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    try:
        async with sessions() as session:
            session.add(Chat(id="c0000000000000001", kind="group", title="replica", created_by=BOB))
            senders = [(ALICE, now()), (ALICE, now()), (BOB, now()), (ALICE, old)]
            for seq, (sender, ts) in enumerate(senders, start=1):
                session.add(
                    Message(
                        id=f"m{seq:016d}",
                        chat_id="c0000000000000001",
                        seq=seq,
                        sender_user_id=sender,
                        sender_device_id="d0000000000000001",
                        client_msg_id=str(seq),
                        created_at=ts,
                    )
                )
            await session.commit()
            before = await usage(session, user_ids=[ALICE, BOB], period=this)
            chat = await session.get(Chat, "c0000000000000001")
            await session.delete(chat)
            await session.commit()
            assert await session.scalar(select(func.count()).select_from(Message)) == 0  # gone with the chat
            after = await usage(session, user_ids=[ALICE, BOB], period=this)
            back_then = await usage(session, user_ids=[ALICE], period="2020-01")
    finally:
        await engine.dispose()
    assert (before[ALICE]["messages"], before[BOB]["messages"]) == (2, 1)
    assert (after[ALICE]["messages"], after[BOB]["messages"]) == (2, 1)
    assert back_then[ALICE]["messages"] == 1
