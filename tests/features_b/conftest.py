"""Fixtures of the calls / tariffs / meetings tests: a node with known tariffs and TURN secret, helpers.

``node`` (overriding the shared one) bills by ``TARIFFS`` and sweeps reminders every 0.3 s;
``fast_node`` also has 1.5 s heartbeat and 2 s ring timeouts for the timeout tests.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from b_helpers import ENV, HEARTBEAT_TIMEOUT, RING_TIMEOUT


@pytest.fixture(scope="session")
def node(node_factory: Callable[..., Any]) -> Any:
    return node_factory(shared_backends=True, **ENV)


@pytest.fixture(scope="session")
def fast_node(node_factory: Callable[..., Any]) -> Any:
    fast = {
        "MSGFLEET_CALL_HEARTBEAT_TIMEOUT": str(HEARTBEAT_TIMEOUT),
        "MSGFLEET_CALL_RING_TIMEOUT": str(RING_TIMEOUT),
        "MSGFLEET_CALL_SWEEP_SECONDS": "0.2",
    }
    return node_factory(shared_backends=True, **{**ENV, **fast})
