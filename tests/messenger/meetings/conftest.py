"""Meetings tests run on ``call_node`` (known tariffs, TURN secret)."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture(scope="session")
def node(call_node: Any) -> Any:
    return call_node
