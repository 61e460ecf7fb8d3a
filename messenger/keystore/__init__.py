"""The node's keys behind one interface: a file backend (a directory outside the data dir) or PKCS#11.

Four named keys, each of one kind (``KINDS``): ``media`` wraps the per-object media data keys, ``totp``
seals TOTP secrets, ``audit`` keys the audit chain (HMAC-SHA-256) and ``federation`` signs S2S requests
(Ed25519). Callers name the key and ask for an operation; with PKCS#11 the secret never leaves the token.

- ``seal`` / ``open``: AES-256-GCM, ``key id (8 bytes) || nonce (12) || ciphertext || tag``; ``open``
  finds the key by its id, so a rotated key still opens what it sealed.
- ``wrap`` / ``unwrap``: AES key wrap (RFC 3394) of a data key; ``wrap`` returns the key id with it.
- ``mac``: HMAC-SHA-256.
- ``signer``: an object with ``sign(message).signature`` and ``verify_key`` (PyNaCl's ``SigningKey``
  in the file backend).
- ``credential``: a secret the node must present to someone else as it is (an OpenID client secret,
  ``oidc-<provider>``); never created, an operator puts it there (file ``<name>.secret`` in the key
  directory, or a private PKCS#11 data object labelled ``msgfleet:credential:<name>``).
- ``rotate`` makes a new current version of a symmetric key and keeps the old ones for ``unwrap`` /
  ``open`` until ``retire`` deletes them (docs/SECURITY.md, "Key rotation").

Missing keys are created on first use; ``serve`` calls ``ensure`` once before starting workers. The
node's store is ``node.keys``, and ``of_session(session)`` finds it from any session of the node (e.g.
``of_session(session).seal("totp", secret, aad=user_id.encode())``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from nacl.signing import VerifyKey

from messenger.errors import MessengerConfigError

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from messenger.settings import Settings

KINDS = {"media": "aes", "totp": "aes", "audit": "hmac", "federation": "ed25519"}
ID_BYTES = 8  # a key version's id: 16 hex characters (the media rows' ``key_id``)
NONCE = 12  # AES-GCM nonce bytes (NIST SP 800-38D, 96-bit IV)


class KeyStoreError(MessengerConfigError):
    """A key is missing, of the wrong kind, or the ciphertext does not open under it."""


class Signed(Protocol):
    @property
    def signature(self) -> bytes: ...


class Signer(Protocol):
    """What federation signs with: PyNaCl's ``SigningKey`` or a token-held Ed25519 key."""

    @property
    def verify_key(self) -> VerifyKey: ...

    def sign(self, message: bytes) -> Signed: ...


def check_kind(name: str, kind: str) -> None:
    if KINDS.get(name) != kind:
        raise KeyStoreError(f"key {name!r} is not an {kind} key (keys: {', '.join(sorted(KINDS))})")


SESSION_INFO = "keystore"  # the node's sessions carry its KeyStore in ``session.info`` under this key


def of_session(session: AsyncSession) -> KeyStore:
    """The key store of the node that made ``session`` (``Node.start`` puts it in the sessions' info)."""
    keys: KeyStore = session.info[SESSION_INFO]
    return keys


def split_sealed(sealed: bytes) -> tuple[str, bytes, bytes]:
    """``seal``'s output as (key version id, nonce, ciphertext with tag)."""
    return sealed[:ID_BYTES].hex(), sealed[ID_BYTES : ID_BYTES + NONCE], sealed[ID_BYTES + NONCE :]


def check_symmetric(name: str) -> None:
    if KINDS.get(name) not in ("aes", "hmac"):
        raise KeyStoreError(f"key {name!r} has no versions (symmetric keys: media, totp, audit)")


class KeyStore(ABC):
    """The operations every backend offers (see the module docstring)."""

    backend: str

    @abstractmethod
    def seal(self, name: str, plaintext: bytes, aad: bytes = b"") -> bytes: ...

    @abstractmethod
    def open(self, name: str, sealed: bytes, aad: bytes = b"") -> bytes: ...

    @abstractmethod
    def wrap(self, name: str, key: bytes) -> tuple[str, bytes]: ...

    @abstractmethod
    def unwrap(self, name: str, key_id: str, wrapped: bytes) -> bytes: ...

    @abstractmethod
    def mac(self, name: str, data: bytes) -> bytes: ...

    @abstractmethod
    def signer(self, name: str = "federation") -> Signer: ...

    @abstractmethod
    def credential(self, name: str) -> bytes:
        """The stored credential ``name`` (``KeyStoreError`` if there is none)."""

    @abstractmethod
    def current_id(self, name: str) -> str:
        """The id of the version ``wrap`` / ``seal`` use now (created if missing)."""

    @abstractmethod
    def key_ids(self, name: str) -> list[str]:
        """Every stored version of a symmetric key, the current one first."""

    @abstractmethod
    def rotate(self, name: str) -> str:
        """A new current version of a symmetric key; returns its id (old versions are kept)."""

    @abstractmethod
    def retire(self, name: str, key_id: str) -> None:
        """Delete an old version (never the current one)."""

    def ensure(self) -> None:
        """Create every missing key (before workers start, so they do not race to create them)."""
        for name, kind in sorted(KINDS.items()):
            if kind == "ed25519":
                self.signer(name)
            else:
                self.current_id(name)

    def close(self) -> None:  # noqa: B027 - the file backend holds nothing open
        """Release the backend (the PKCS#11 session)."""


def open_keystore(settings: Settings) -> KeyStore:
    """The key store the settings name: ``MSGFLEET_KEYSTORE=file`` (default) or ``pkcs11``."""
    if settings.keystore == "pkcs11":
        from messenger.keystore.pkcs11 import Pkcs11KeyStore

        assert settings.keystore_pkcs11_module and settings.keystore_pkcs11_pin  # checked by Settings
        return Pkcs11KeyStore(
            str(settings.keystore_pkcs11_module),
            settings.keystore_pkcs11_token,
            settings.keystore_pkcs11_pin,
        )
    from messenger.keystore.file import FileKeyStore
    from messenger.media.settings import load_media_settings

    paths: dict[str, Path] = {}
    if settings.keystore_dir is None:  # the development layout, inside the data dir (a warning at start)
        directory = settings.data_dir / "keys"
        paths["federation"] = settings.data_dir / "federation.key"  # where the fleet launcher writes it
    else:
        directory = settings.keystore_dir
    if settings.federation_key is not None:
        paths["federation"] = settings.federation_key
    media_file = load_media_settings().key_file
    if media_file is not None:
        paths["media"] = media_file
    return FileKeyStore(directory, paths)
