"""Bearer tokens: 256 random bits, stored only as SHA-256."""

from __future__ import annotations

import hashlib
import secrets


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """Tokens are 256-bit random, so a plain SHA-256 is a safe at-rest form (no slow KDF needed)."""
    return hashlib.sha256(token.encode()).hexdigest()
