"""Migrators of one PostgreSQL database take turns (an advisory lock in messenger/migrations/env.py):
a rollout's migration Job and every replica's start-up check may run ``upgrade`` at once on a fresh
database, and all of them succeed. Without the lock, all but one fail on tables the first created."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import pytest

from messenger.db.migrate import upgrade
from messenger.launch import scratch_database

SERVER = os.environ.get("MSGFLEET_TEST_DATABASE_URL")
MIGRATORS = 4


@pytest.mark.skipif(not SERVER, reason="needs PostgreSQL (MSGFLEET_TEST_DATABASE_URL)")
def test_concurrent_upgrades_of_a_fresh_database_all_succeed() -> None:
    assert SERVER is not None
    url, drop = scratch_database(SERVER, prefix="msgfleet_migrate")
    try:
        code = f"from messenger.db.migrate import upgrade; upgrade({url!r})"
        procs = [
            subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE, text=True)
            for _ in range(MIGRATORS)
        ]
        errors = [(p.wait(timeout=300), p.stderr.read() if p.stderr else "") for p in procs]
        failed = [err.strip().splitlines()[-3:] for rc, err in errors if rc != 0]
        assert not failed, f"{len(failed)} of {MIGRATORS} migrators failed: {failed}"
        reference, drop_reference = scratch_database(SERVER, prefix="msgfleet_migrate")
        try:
            upgrade(reference)  # one migrator alone: where the racers must have arrived
            assert _applied(url) == _applied(reference)
        finally:
            drop_reference()
    finally:
        drop()


def _applied(url: str) -> set[str]:
    import asyncpg

    async def read() -> set[str]:
        conn = await asyncpg.connect(url.replace("+asyncpg", ""))
        try:
            return {r["version_num"] for r in await conn.fetch("SELECT version_num FROM alembic_version")}
        finally:
            await conn.close()

    return asyncio.run(read())
