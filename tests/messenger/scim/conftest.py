"""SCIM fixtures: a node with its own admin (``scim_node``), a fresh organisation and its token per
test, and a scim2-client over loopback (its httpx2 engine) authenticated as that organisation."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx2
import pytest
from scim2_client.engines.httpx2 import AsyncSCIMClient
from scim2_models import Group, ScimProvider, User
from scim_helpers import Org

from messenger.client import MessengerClient

Signup = Callable[..., Awaitable[MessengerClient]]


@pytest.fixture(scope="session")
def scim_admin_phone() -> str:
    return f"+7995{secrets.randbelow(10**7):07d}"


@pytest.fixture(scope="session")
def scim_node(node_factory: Callable[..., Any], scim_admin_phone: str) -> Any:
    """A node (PostgreSQL + workers when configured) whose admin is ``scim_admin_phone``; no per-number
    code limit, since every test signs its admin in again."""
    return node_factory(
        shared_backends=True, MSGFLEET_ADMIN_PHONES=scim_admin_phone, MSGFLEET_CODE_RATE_PER_PHONE="0"
    )


@pytest.fixture
async def admin(signup: Signup, scim_node: Any, scim_admin_phone: str) -> MessengerClient:
    return await signup(phone=scim_admin_phone, node_=scim_node)


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
