"""Fixtures of the federation tests: three real state nodes, logged-in clients (see fednodes.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from fednodes import ALLOWED_FAKE, FORBIDDEN_FAKE, STATES, Nodes, StateNode, make_nodes, new_phone, stop_nodes

from messenger.client import MessengerClient, sms_file_reader


@pytest.fixture(scope="session")
def three_states(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Nodes]:
    """RU-MOW, RU-SPE and RU-NVS, peers of each other; the tests also speak as peer RU-TVE and as
    RU-KDA, a configured peer that every node's policy forbids."""
    policy = {state: {"forbid_federation_with": [FORBIDDEN_FAKE]} for state in STATES}
    nodes = make_nodes(
        tmp_path_factory.mktemp("fed3"), STATES, policy=policy, fake_peers=(ALLOWED_FAKE, FORBIDDEN_FAKE)
    )
    yield nodes
    stop_nodes(nodes)


@pytest.fixture
async def login() -> AsyncIterator[Callable[..., Any]]:
    """``await login(node, phone=None, device_name="cli")`` → a logged-in client with published keys."""
    clients: list[MessengerClient] = []

    async def make(node: StateNode, phone: str | None = None, device_name: str = "cli") -> MessengerClient:
        client = await MessengerClient.login(
            node.url, phone or new_phone(), sms_file_reader(node.sms_path), device_name=device_name
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()
