"""TURN credentials in the coturn REST-API convention (coturn ``use-auth-secret`` / ``static-auth-secret``).

Source: draft-uberti-behave-turn-rest-00 §2.2 and coturn's turnserver.conf documentation: the username
is ``<expiry UNIX timestamp>:<user>`` and the password ``base64(HMAC-SHA1(shared secret, username))``;
coturn recomputes the password from the secret and refuses the username once the timestamp has passed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TurnCredentials:
    username: str
    password: str
    ttl: int
    expires_at: int
    uris: list[str]


def turn_secret(configured: str | None, node_secret: bytes) -> bytes:
    """The state's shared secret: the configured one, else derived from the node secret (one-node dev)."""
    if configured:
        return configured.encode()
    return hmac.new(node_secret, b"msgfleet turn static-auth-secret", hashlib.sha256).hexdigest().encode()


def issue(secret: bytes, *, user: str, now: float, ttl: int, uris: list[str]) -> TurnCredentials:
    """Credentials for ``user`` valid for ``ttl`` seconds from ``now``."""
    expires = int(now) + ttl
    username = f"{expires}:{user}"
    digest = hmac.new(secret, username.encode(), hashlib.sha1).digest()
    return TurnCredentials(username, base64.b64encode(digest).decode(), ttl, expires, uris)
