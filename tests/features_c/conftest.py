"""Fixtures of part C's tests: one extra node with a bootstrap admin (audit and admin tests share it)."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

import pytest


@pytest.fixture(scope="session")
def admin_phone() -> str:
    return f"+7998{secrets.randbelow(10**7):07d}"


@pytest.fixture(scope="session")
def trust_node(node_factory: Callable[..., Any], admin_phone: str) -> Any:
    """A node (PostgreSQL + workers when configured) whose admin is ``admin_phone``."""
    return node_factory(shared_backends=True, MSGFLEET_ADMIN_PHONES=f"+70000000000, {admin_phone}")
