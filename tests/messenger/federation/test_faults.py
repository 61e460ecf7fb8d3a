"""A receiving node is killed (SIGKILL) while messages to it are being sent, then restarted: every
message arrives, none twice, in order."""

from __future__ import annotations

import asyncio
from typing import Any

from fednodes import Nodes, collect

TOTAL, KILL_AFTER = 24, 6


async def test_receiver_killed_mid_stream_gets_everything_once(three_states: Nodes, login: Any) -> None:
    mow, spe = three_states["RU-MOW"], three_states["RU-SPE"]
    a = await login(mow)
    b = await login(spe)
    chat_id = await a.open_private(b.user_id)
    await a.send(chat_id, "m0")
    assert len(await collect(b, chat_id, 1)) == 1  # warm: RU-MOW has RU-SPE's devices and a connection

    async def post_all() -> None:
        for i in range(1, TOTAL):
            await a.send(chat_id, f"m{i}")
            if i == KILL_AFTER:
                spe.kill()  # mid-stream: deliveries to RU-SPE are in flight or queued
            await asyncio.sleep(0.02)

    await post_all()
    pending = await mow.rows("SELECT count(*) FROM fed_outbox WHERE destination = 'RU-SPE'")
    assert pending[0][0] > 0, "nothing was waiting for the killed node"
    await asyncio.to_thread(spe.start)  # same port, same database

    events = await collect(b, chat_id, TOTAL - 1, timeout=120)  # after the warm-up message (seq 1)
    assert [e["data"]["seq"] for e in events] == list(range(2, TOTAL + 1))
    assert [await b.decrypt(e["data"]) for e in events] == [f"m{i}" for i in range(1, TOTAL)]
    assert not await collect(b, chat_id, 1, timeout=1.0), "a message arrived twice"
    rows = await spe.rows("SELECT seq FROM messages WHERE chat_id = :c ORDER BY seq", c=chat_id)
    assert [r[0] for r in rows] == list(range(1, TOTAL + 1))
