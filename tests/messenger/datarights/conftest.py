"""Fixtures of the data-rights tests: a node with a family tariff and a bootstrap admin (``drnode``) and
a node with short retention for group chats and channel posts (``retnode``)."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from typing import Any

import pytest

TARIFFS = {"plans": [{"name": "basic"}, {"name": "family", "kind": "family", "max_members": 3}]}
RETENTION = {"group": 2, "channel": 2}  # seconds: old enough to be swept within one test


@pytest.fixture(scope="session")
def admin_phone() -> str:
    return f"+7997{secrets.randbelow(10**7):07d}"


@pytest.fixture(scope="session")
def drnode(node_factory: Callable[..., Any], admin_phone: str) -> Any:
    """PostgreSQL + 2 workers + Redis when MSGFLEET_TEST_* are set, else SQLite."""
    return node_factory(
        shared_backends=True, MSGFLEET_TARIFFS=json.dumps(TARIFFS), MSGFLEET_ADMIN_PHONES=admin_phone
    )


@pytest.fixture(scope="session")
def retnode(node_factory: Callable[..., Any]) -> Any:
    return node_factory(
        shared_backends=True,
        MSGFLEET_RETENTION_RULES=json.dumps(RETENTION),
        MSGFLEET_RETENTION_INTERVAL_SECONDS="0.3",
    )
