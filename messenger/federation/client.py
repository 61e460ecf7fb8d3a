"""Signed HTTP requests to peer nodes (httpx), one shared connection pool per node."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx

from messenger.federation.errors import FederationForbidden, PeerUnavailable, UnknownState
from messenger.federation.peers import FederationConfig
from messenger.federation.signing import sign_headers
from messenger.keystore import Signer


class PeerError(Exception):
    """A peer answered with an error or could not be reached."""

    def __init__(self, state: str, status: int, detail: str):
        super().__init__(f"{state}: {status} {detail}")
        self.state, self.status, self.detail = state, status, detail


class PeerClient:
    """``await client.call("RU-SPE", "POST", "/_federation/v1/query/users", {...})`` → decoded JSON."""

    def __init__(self, config: FederationConfig, key: Signer, *, timeout_s: float = 10.0):
        self.config, self.key = config, key
        self.http = httpx.AsyncClient(timeout=timeout_s, limits=httpx.Limits(max_connections=64))

    def check_state(self, state: str) -> None:
        """Raise the API error a client sees when ``state`` is not reachable by federation."""
        if not self.config.allowed(state):
            raise FederationForbidden(f"this state's policy forbids federation with {state}")
        if state not in self.config.peers:
            raise UnknownState(f"no peer node is configured for state {state}")

    def _signed(self, state: str, method: str, path: str, payload: Any) -> tuple[str, bytes, dict[str, str]]:
        self.check_state(state)
        body = json.dumps(payload, separators=(",", ":")).encode()
        headers = sign_headers(
            self.key, method=method, target=path, body=body, origin=self.config.state, destination=state
        )
        headers["Content-Type"] = "application/json"
        return self.config.peers[state].url + path, body, headers

    @contextlib.asynccontextmanager
    async def stream(self, state: str, path: str, payload: Any) -> AsyncIterator[httpx.Response]:
        """A signed POST whose answer body is read as a stream (``response.aiter_bytes()``); ``PeerError``
        on a transport failure or a non-2xx answer."""
        url, body, headers = self._signed(state, "POST", path, payload)
        try:
            async with self.http.stream("POST", url, content=body, headers=headers) as response:
                if response.status_code >= 300:
                    await response.aread()
                    raise PeerError(state, response.status_code, response.text[:300])
                yield response
        except httpx.HTTPError as exc:
            raise PeerError(state, 0, f"{type(exc).__name__}: {exc}") from None

    async def call(self, state: str, method: str, path: str, payload: Any) -> Any:
        """Send a signed request; ``PeerError`` on a transport failure or a non-2xx answer."""
        url, body, headers = self._signed(state, method, path, payload)
        try:
            response = await self.http.request(method, url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise PeerError(state, 0, f"{type(exc).__name__}: {exc}") from None
        if response.status_code >= 300:
            raise PeerError(state, response.status_code, response.text[:300])
        return response.json()

    async def query(self, state: str, path: str, payload: Any) -> Any:
        """``call`` for a client request waiting on the answer: failures become API errors."""
        try:
            return await self.call(state, "POST", path, payload)
        except PeerError as exc:
            if exc.status == 403:
                raise FederationForbidden(f"the node of {state} refuses federation with this state") from None
            raise PeerUnavailable(f"the node of {state} did not answer: {exc.detail}") from None

    async def close(self) -> None:
        await self.http.aclose()
