"""Call tests run on ``call_node``; timeouts on ``clock_node``, whose clock they move on."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture(scope="session")
def node(call_node: Any) -> Any:
    return call_node
