"""Fixtures of the identity tests: the local OpenID provider (``oidc_helpers``) and nodes that use it.

``provider`` is one provider for the session (behind its proxy); ``oidc_env(provider)`` the node settings
that name it ("testidp", with the client secret in a key-store directory of its own) and a provider
nobody answers for ("down"); ``oidc_node`` a node of the main kind (PostgreSQL + 2 workers when
configured) with those settings and the development clock.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from clock_helpers import CLOCK_ENV
from oidc_helpers import NODE_CLIENT, REDIRECT_URI, ProxiedProvider, free_port


@pytest.fixture(scope="session")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProxiedProvider]:
    local = ProxiedProvider(tmp_path_factory.mktemp("oidc-provider"))
    yield local
    local.close()


def provider_settings(issuer: str) -> list[dict[str, Any]]:
    return [
        {
            "name": "testidp",
            "display_name": "Test ID",
            "issuer": issuer,
            "client_id": NODE_CLIENT["client_id"],
            "redirect_uri": REDIRECT_URI,
            "scopes": ["openid", "phone", "profile", "email"],  # asks for more than it may keep
            "keep_claims": ["phone_number_verified"],
        },
        {
            "name": "down",
            "display_name": "Nobody",
            "issuer": f"http://127.0.0.1:{free_port()}",
            "client_id": "msgfleet",
            "redirect_uri": REDIRECT_URI,
        },
    ]


@pytest.fixture(scope="session")
def oidc_env(tmp_path_factory: pytest.TempPathFactory) -> Callable[[ProxiedProvider], dict[str, str]]:
    def make(local: ProxiedProvider, **extra: str) -> dict[str, str]:
        keys: Path = tmp_path_factory.mktemp("keys")
        (keys / "oidc-testidp.secret").write_text(NODE_CLIENT["client_secret"])
        return {
            "MSGFLEET_KEYSTORE_DIR": str(keys),
            "MSGFLEET_OIDC_PROVIDERS": json.dumps(provider_settings(local.issuer)),
            **CLOCK_ENV,
            **extra,
        }

    return make


@pytest.fixture(scope="session")
def oidc_node(node_factory: Callable[..., Any], provider: ProxiedProvider, oidc_env: Any) -> Any:
    return node_factory(shared_backends=True, **oidc_env(provider))
