"""Call tests run on ``call_node``; ``fast_node`` also has short heartbeat and ring timeouts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from call_helpers import ENV, HEARTBEAT_TIMEOUT, RING_TIMEOUT


@pytest.fixture(scope="session")
def node(call_node: Any) -> Any:
    return call_node


@pytest.fixture(scope="session")
def fast_node(node_factory: Callable[..., Any]) -> Any:
    fast = {
        "MSGFLEET_CALL_HEARTBEAT_TIMEOUT": str(HEARTBEAT_TIMEOUT),
        "MSGFLEET_CALL_RING_TIMEOUT": str(RING_TIMEOUT),
        "MSGFLEET_CALL_SWEEP_SECONDS": "0.2",
    }
    return node_factory(shared_backends=True, **{**ENV, **fast})
