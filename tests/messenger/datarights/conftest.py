"""Fixtures of the data-rights tests: a node with a family tariff and a bootstrap admin (``drnode``).
Retention runs on ``clock_node`` and ``s3_node`` (tests/messenger/conftest.py), whose clocks tests move on."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from typing import Any

import pytest

TARIFFS = {"plans": [{"name": "basic"}, {"name": "family", "kind": "family", "max_members": 3}]}


@pytest.fixture(scope="session")
def admin_phone() -> str:
    return f"+7997{secrets.randbelow(10**7):07d}"


@pytest.fixture(scope="session")
def drnode(node_factory: Callable[..., Any], admin_phone: str) -> Any:
    """PostgreSQL + 2 workers + Redis when MSGFLEET_TEST_* are set, else SQLite."""
    return node_factory(
        shared_backends=True, MSGFLEET_TARIFFS=json.dumps(TARIFFS), MSGFLEET_ADMIN_PHONES=admin_phone
    )
