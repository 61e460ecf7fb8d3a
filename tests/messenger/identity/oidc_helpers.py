"""The local OpenID provider for the tests (tools/oidc-provider: panva/oidc-provider on Node.js) and a
loopback reverse proxy in front of it that can swap or spoil the ID token of the next token response.

The provider's issuer is the proxy's URL, so the node and the tests see one provider; the proxy is how a
test plays the attacker between the node and the provider's token endpoint (a tampered token, a token
issued to another client, a token with another nonce) without mocking the provider.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from loadtests.oidc_provider import (
    ID_TOKEN_TTL,
    PROVIDER_DIR,
    REDIRECT_URI,
    LocalProvider,
    free_port,
    installed,
    log_in,
)

NODE_CLIENT = {"client_id": "msgfleet", "client_secret": secrets.token_urlsafe(24)}
OTHER_CLIENT = {"client_id": "other-app", "client_secret": secrets.token_urlsafe(24)}
_HOP_HEADERS = ("content-length", "transfer-encoding", "connection", "content-encoding")  # set anew


def require_provider() -> None:
    """Skip without node_modules (``make oidc-provider`` installs it), except in CI, where it must be."""
    if installed():
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{PROVIDER_DIR}/node_modules missing in CI: `make oidc-provider` must run first")
    pytest.skip(f"the local OpenID provider is not installed: run `make oidc-provider` ({PROVIDER_DIR})")


class Proxy:
    """``issuer`` forwards to the provider; ``on_token`` (if set) rewrites the next token response's body."""

    def __init__(self) -> None:
        self.port = free_port()
        self.upstream = ""
        self.on_token: Callable[[dict[str, Any]], dict[str, Any]] | None = None
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() != "content-length"}
                try:
                    with httpx.Client(timeout=30) as http:
                        up = http.request(
                            self.command, proxy.upstream + self.path, content=body, headers=headers
                        )
                except httpx.TransportError:
                    self.send_error(502)
                    return
                content = up.content
                hook = proxy.on_token
                if hook is not None and self.path.startswith("/token") and up.status_code == 200:
                    proxy.on_token = None
                    content = json.dumps(hook(up.json())).encode()
                self.send_response(up.status_code)
                for key, value in up.headers.multi_items():
                    if key.lower() not in (
                        "content-length",
                        "transfer-encoding",
                        "connection",
                        "content-encoding",
                    ):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            do_GET = do_POST = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class ProxiedProvider(LocalProvider):
    """The local provider with ``Proxy`` in front: its issuer is the proxy's URL."""

    def __init__(self, workdir: Path) -> None:
        require_provider()
        self.proxy = Proxy()
        super().__init__(workdir, [NODE_CLIENT, OTHER_CLIENT], issuer=self.proxy.issuer)

    def start(self) -> None:
        super().start()
        self.proxy.upstream = self.url

    def close(self) -> None:
        self.stop()
        self.proxy.close()


def id_token_for(provider: ProxiedProvider, client: dict[str, str], *, nonce: str, account: str) -> str:
    """An ID token issued to ``client`` (the test acting as that client app, with its own PKCE)."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    state = secrets.token_urlsafe(16)
    query = {
        "response_type": "code",
        "client_id": client["client_id"],
        "redirect_uri": REDIRECT_URI,
        "scope": "openid phone",
        "state": state,
        "nonce": nonce,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    result = log_in(f"{provider.issuer}/auth?{urlencode(query)}", account)
    assert result["state"] == state
    token = httpx.post(
        f"{provider.issuer}/token",
        data={
            "grant_type": "authorization_code",
            "code": result["code"],
            "redirect_uri": REDIRECT_URI,
            "code_verifier": verifier,
        },
        auth=(client["client_id"], client["client_secret"]),
    )
    assert token.status_code == 200, token.text
    return str(token.json()["id_token"])


__all__ = ["ID_TOKEN_TTL", "REDIRECT_URI", "ProxiedProvider", "free_port", "log_in"]
