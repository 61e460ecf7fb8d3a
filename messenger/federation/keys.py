"""The node's Ed25519 signing key in its file format (base64 seed); loaded through ``messenger.keystore``."""

from __future__ import annotations

import base64
import binascii
from pathlib import Path

from nacl.signing import SigningKey, VerifyKey

from messenger.errors import MessengerConfigError
from messenger.keystore import Signer
from messenger.keystore.file import create_once

KEY_FILE = "federation.key"


def load_or_create(path: Path) -> SigningKey:
    """The signing key stored (base64 of the 32-byte seed) in ``path``; created 0600 if missing (the file
    backend of ``messenger.keystore`` calls this for the ``federation`` key)."""
    create_once(path, base64.b64encode(bytes(SigningKey.generate())).decode() + "\n")
    return read_key(path)


def read_key(path: Path) -> SigningKey:
    """Parse a key file; one line naming the file if it is not base64 of a 32-byte seed."""
    try:
        seed = base64.b64decode(path.read_text().strip(), validate=True)
    except (OSError, binascii.Error, ValueError) as exc:
        raise MessengerConfigError(f"{path}: not a federation key (base64 Ed25519 seed): {exc}") from None
    if len(seed) != 32:
        raise MessengerConfigError(f"{path}: federation key seed must be 32 bytes, got {len(seed)}")
    return SigningKey(seed)


def public_key_b64(key: Signer) -> str:
    return base64.b64encode(bytes(key.verify_key)).decode()


def parse_public_key(value: str, where: str) -> VerifyKey:
    """A peer's published key (base64 of 32 bytes); ``ValueError`` naming ``where`` otherwise."""
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"{where}: public_key is not base64") from None
    if len(raw) != 32:
        raise ValueError(f"{where}: public_key must be 32 bytes, got {len(raw)}")
    return VerifyKey(raw)
