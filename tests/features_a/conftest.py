"""Fixtures of part A: a node with small media limits (``anode``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

LIMITS = {
    "MSGFLEET_MEDIA_PHOTO_MAX_BYTES": "1000000",
    "MSGFLEET_MEDIA_DOCUMENT_MAX_BYTES": "2000000",
    "MSGFLEET_MEDIA_VOICE_MAX_BYTES": "500000",
}


@pytest.fixture(scope="session")
def anode(node_factory: Callable[..., Any]) -> Any:
    """A node (PostgreSQL + Redis + 2 workers when configured) with small per-type media limits."""
    return node_factory(shared_backends=True, **LIMITS)
