"""Fixtures of the load-test suite: real nodes on loopback, started by the fleet launcher."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from loadtests.fleet import Fleet
from loadtests.run import LOADTEST_NODE_ENV


def database_server() -> str | None:
    """The PostgreSQL server of the test environment, if one is configured."""
    return os.environ.get("MSGFLEET_TEST_DATABASE_URL")


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    """Two nodes (RU-MOW, RU-SPE), on PostgreSQL databases of their own when a server is configured."""
    prefix = f"msgfleet_lt_{uuid.uuid4().hex[:8]}"
    with Fleet(
        ["RU-MOW", "RU-SPE"],
        tmp_path / "fleet",
        database_url=database_server(),
        database_prefix=prefix,
        drop_databases=True,
        env=LOADTEST_NODE_ENV,
    ) as running:
        yield running
