"""The local OpenID provider (tools/oidc-provider: panva/oidc-provider on Node.js) for load runs and the
identity tests: start it on loopback, and play a user's browser at it (``log_in``).

``npm ci`` happens in the Makefile (``make oidc-provider``), never here. Accounts are made up by the
provider from their id: ``p<digits>`` vouches for the phone number ``+<digits>`` (docs/IDENTITY.md).
"""

from __future__ import annotations

import json
import socket
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

PROVIDER_DIR = Path(__file__).resolve().parent.parent / "tools" / "oidc-provider"
REDIRECT_URI = "http://127.0.0.1/msgfleet/oidc"  # registered for every client; nobody listens there
ID_TOKEN_TTL = 600  # s
OIDC_PROVIDER, OIDC_CLIENT = "local", "msgfleet-loadtest"  # the load runs' provider name and client id


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def installed() -> bool:
    return (PROVIDER_DIR / "node_modules" / "oidc-provider").is_dir()


def signing_key() -> dict[str, Any]:
    """A fresh RSA signing key (private JWK) with its own ``kid``."""
    import secrets

    from joserfc.jwk import RSAKey

    key = RSAKey.generate_key(2048, parameters={"kid": secrets.token_hex(8), "use": "sig", "alg": "RS256"})
    return key.as_dict(private=True)


class LocalProvider:
    """The provider on its own loopback port (``url``). ``issuer`` is that URL unless a front (a proxy)
    is given; ``restart(new_key=True)`` starts it again with a new signing key (key rotation)."""

    def __init__(
        self, workdir: Path, clients: Sequence[dict[str, str]], *, issuer: str | None = None
    ) -> None:
        self.workdir, self.clients = workdir, list(clients)
        self.key = signing_key()
        self.url = ""
        self._issuer = issuer
        self.process: subprocess.Popen[str] | None = None
        self.start()

    @property
    def issuer(self) -> str:
        return self._issuer or self.url

    def start(self) -> None:
        if not installed():
            raise RuntimeError(
                f"the local OpenID provider is not installed: run `make oidc-provider` ({PROVIDER_DIR})"
            )
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        registered = [
            {
                **client,
                "redirect_uris": [REDIRECT_URI],
                "grant_types": ["authorization_code"],
                "response_types": ["code"],
                "application_type": "native",  # loopback redirect URI (RFC 8252 §7.3)
            }
            for client in self.clients
        ]
        config = {
            "issuer": self.issuer,
            "port": port,
            "clients": registered,
            "jwks": {"keys": [self.key]},
            "id_token_ttl": ID_TOKEN_TTL,
        }
        path = self.workdir / "provider.json"
        self.workdir.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(config))
        with (self.workdir / "provider.log").open("a") as log:
            self.process = subprocess.Popen(
                ["node", str(PROVIDER_DIR / "provider.mjs"), str(path)],
                cwd=PROVIDER_DIR,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
            )
        assert self.process.stdout is not None
        if not self.process.stdout.readline().startswith("ready"):  # blocks until it listens or exits
            raise RuntimeError(f"the OpenID provider did not start: see {self.workdir / 'provider.log'}")

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

    def node_provider(self, name: str, client_id: str, **extra: Any) -> dict[str, Any]:
        """This provider as an entry of a node's ``MSGFLEET_OIDC_PROVIDERS``."""
        return {
            "name": name,
            "display_name": f"Local {name}",
            "issuer": self.issuer,
            "client_id": client_id,
            "redirect_uri": REDIRECT_URI,
            **extra,
        }


def log_in(authorization_url: str, account: str, http: httpx.Client | None = None) -> dict[str, str]:
    """Play the user's browser: follow the redirects, log ``account`` in and grant consent at each
    interaction; returns the query (``code``, ``state``) of the final redirect to ``REDIRECT_URI``."""
    browser = http or httpx.Client(timeout=30)
    browser.cookies.clear()
    try:
        url = authorization_url
        for _ in range(12):
            if url.startswith(REDIRECT_URI):
                return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
            if "/interaction/" in url:
                url = f"{url}?{urlencode({'account': account})}"
            response = browser.get(url)
            if response.status_code not in (302, 303):
                raise RuntimeError(f"{url}: {response.status_code} {response.text[:200]}")
            url = str(httpx.URL(url).join(response.headers["location"]))
    finally:
        if http is None:
            browser.close()
    raise RuntimeError(f"no redirect to {REDIRECT_URI} after 12 steps")
