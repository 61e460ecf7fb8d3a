"""Bearer tokens (256 random bits, stored only as SHA-256) and sealing of secrets the node must read back
(TOTP secrets) under a node key."""

from __future__ import annotations

import base64
import hashlib
import secrets
from typing import Protocol

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """Tokens are 256-bit random, so a plain SHA-256 is a safe at-rest form (no slow KDF needed)."""
    return hashlib.sha256(token.encode()).hexdigest()


class HasSecret(Protocol):
    secret: bytes


def totp_key(node: HasSecret) -> bytes:
    """The 256-bit AES key that seals TOTP secrets at rest.

    Today derived (HKDF-SHA256, its own ``info``) from the node secret, which comes from
    ``MSGFLEET_SECRET_KEY`` or ``<data_dir>/secret.key``. This is the one place to ask a key store
    for the node's TOTP key instead."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"msgfleet totp secrets v1").derive(
        node.secret
    )


_SEALED = "g1:"  # AES-256-GCM, 96-bit random nonce, base64url(nonce | ciphertext | tag)


def seal(key: bytes, plaintext: str, *, bound_to: str) -> str:
    """Encrypt ``plaintext`` for storage; ``bound_to`` (e.g. the user id) is authenticated, so a sealed
    value copied into another row does not open."""
    nonce = secrets.token_bytes(12)
    sealed = AESGCM(key).encrypt(nonce, plaintext.encode(), bound_to.encode())
    return _SEALED + base64.urlsafe_b64encode(nonce + sealed).decode()


def unseal(key: bytes, stored: str, *, bound_to: str) -> str:
    """The plaintext of :func:`seal`; ``cryptography.exceptions.InvalidTag`` if key or binding differ."""
    if not stored.startswith(_SEALED):
        raise ValueError("not a sealed value")
    raw = base64.urlsafe_b64decode(stored.removeprefix(_SEALED))
    return AESGCM(key).decrypt(raw[:12], raw[12:], bound_to.encode()).decode()
