"""SCIM fixtures: the admin node (``trust_node``), a fresh organisation and its token per test, and a
scim2-client over loopback (its httpx2 engine) authenticated as that organisation."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx2
import pytest
from scim2_client.engines.httpx2 import AsyncSCIMClient
from scim2_models import Group, ScimProvider, User

from messenger.client import MessengerClient

Signup = Callable[..., Awaitable[MessengerClient]]


@dataclass
class Org:
    id: str
    token: str
    base: str  # http://127.0.0.1:PORT/scim/v2

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture
def scim_node(trust_node: Any) -> Any:
    return trust_node


@pytest.fixture
async def admin(signup: Signup, scim_node: Any, admin_phone: str) -> MessengerClient:
    return await signup(phone=admin_phone, node_=scim_node)


@pytest.fixture
async def new_org(admin: MessengerClient, scim_node: Any) -> Callable[..., Awaitable[Org]]:
    async def make(kind: str = "school") -> Org:
        name = f"School {secrets.token_hex(3)}"
        made = await admin.request("POST", "/v1/admin/organisations", json={"name": name, "kind": kind})
        return Org(made["id"], made["token"], f"{scim_node.url}/scim/v2")

    return make


@pytest.fixture
async def org(new_org: Callable[..., Awaitable[Org]]) -> Org:
    return await new_org()


@pytest.fixture
async def scim(org: Org) -> AsyncIterator[AsyncSCIMClient]:
    """scim2-client's async client, told the resource types up front (no discovery round trip)."""
    http = httpx2.AsyncClient(base_url=org.base, headers=org.headers, timeout=30)
    client = AsyncSCIMClient(http, provider=ScimProvider(models=[User, Group]))
    yield client
    await http.aclose()
