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
import socket
import subprocess
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from joserfc.jwk import RSAKey

ROOT = Path(__file__).resolve().parents[3]
PROVIDER_DIR = ROOT / "tools" / "oidc-provider"
REDIRECT_URI = "http://127.0.0.1/msgfleet/oidc"
NODE_CLIENT = {"client_id": "msgfleet", "client_secret": secrets.token_urlsafe(24)}
OTHER_CLIENT = {"client_id": "other-app", "client_secret": secrets.token_urlsafe(24)}
_HOP_HEADERS = ("content-length", "transfer-encoding", "connection", "content-encoding")  # set anew
ID_TOKEN_TTL = 600  # s: the expiry test moves the node's clock on by more than this


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def require_provider() -> None:
    """Skip without node_modules (``make oidc-provider`` installs it), except in CI, where it must be."""
    if (PROVIDER_DIR / "node_modules" / "oidc-provider").is_dir():
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{PROVIDER_DIR}/node_modules missing in CI: `make oidc-provider` must run first")
    pytest.skip(f"the local OpenID provider is not installed: run `make oidc-provider` ({PROVIDER_DIR})")


def signing_key() -> dict[str, Any]:
    """A fresh RSA signing key (private JWK) with its own ``kid``."""
    key = RSAKey.generate_key(2048, parameters={"kid": secrets.token_hex(8), "use": "sig", "alg": "RS256"})
    return key.as_dict(private=True)


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


class LocalProvider:
    """The Node.js provider behind a ``Proxy``; ``restart(new_key=True)`` rotates its signing key."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.proxy = Proxy()
        self.key = signing_key()
        self.process: subprocess.Popen[str] | None = None
        self.start()

    @property
    def issuer(self) -> str:
        return self.proxy.issuer

    def start(self) -> None:
        port = free_port()
        clients = [
            {
                **client,
                "redirect_uris": [REDIRECT_URI],
                "grant_types": ["authorization_code"],
                "response_types": ["code"],
                "application_type": "native",
            }
            for client in (NODE_CLIENT, OTHER_CLIENT)
        ]
        config = {
            "issuer": self.issuer,
            "port": port,
            "clients": clients,
            "jwks": {"keys": [self.key]},
            "id_token_ttl": ID_TOKEN_TTL,
        }
        path = self.workdir / "provider.json"
        path.write_text(json.dumps(config))
        log = (self.workdir / "provider.log").open("a")
        self.process = subprocess.Popen(
            ["node", str(PROVIDER_DIR / "provider.mjs"), str(path)],
            cwd=PROVIDER_DIR,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()  # blocks until it listens or exits
        if not line.startswith("ready"):
            raise RuntimeError(f"the OpenID provider did not start: see {self.workdir / 'provider.log'}")
        self.proxy.upstream = f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=30)
            self.process = None

    def restart(self, *, new_key: bool) -> None:
        self.stop()
        if new_key:
            self.key = signing_key()
        self.start()

    def close(self) -> None:
        self.stop()
        self.proxy.close()


def log_in(authorization_url: str, account: str) -> dict[str, str]:
    """Play the user's browser at the provider: follow the redirects, log ``account`` in and grant
    consent at each interaction; returns the query of the final redirect to ``REDIRECT_URI``."""
    with httpx.Client(timeout=30) as browser:
        url = authorization_url
        for _ in range(12):
            if url.startswith(REDIRECT_URI):
                return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
            if "/interaction/" in url:
                url = f"{url}?{urlencode({'account': account})}"
            response = browser.get(url)
            assert response.status_code in (302, 303), f"{url}: {response.status_code} {response.text}"
            location = response.headers["location"]
            url = location if location.startswith("http") else str(httpx.URL(url).join(location))
    raise AssertionError(f"no redirect to {REDIRECT_URI} after 12 steps")


def id_token_for(provider: LocalProvider, client: dict[str, str], *, nonce: str, account: str) -> str:
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
