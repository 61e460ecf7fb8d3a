"""Bearer tokens (256 random bits, stored only as SHA-256) and sealing of secrets the node must read back
(TOTP secrets) under the key store's ``totp`` key."""

from __future__ import annotations

import base64
import hashlib
import secrets

from messenger.keystore import KeyStore


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """Tokens are 256-bit random, so a plain SHA-256 is a safe at-rest form (no slow KDF needed)."""
    return hashlib.sha256(token.encode()).hexdigest()


_SEALED = "k1:"  # the key store's seal of the "totp" key (AES-256-GCM, messenger/keystore), base64url


def seal_totp(keys: KeyStore, secret: str, *, user_id: str) -> str:
    """A TOTP secret for storage, sealed under the key store's ``totp`` key (on PKCS#11 the key never
    leaves the token); the user id is authenticated, so a sealed value copied into another row does not
    open."""
    return (
        _SEALED + base64.urlsafe_b64encode(keys.seal("totp", secret.encode(), aad=user_id.encode())).decode()
    )


def open_totp(keys: KeyStore, stored: str, *, user_id: str) -> str:
    """The secret :func:`seal_totp` sealed; ``KeyStoreError`` if the key or the user differ."""
    if not stored.startswith(_SEALED):
        raise ValueError("not a sealed value")
    return keys.open(
        "totp", base64.urlsafe_b64decode(stored.removeprefix(_SEALED)), aad=user_id.encode()
    ).decode()
