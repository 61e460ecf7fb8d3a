"""File backend: one file per key version in a directory kept apart from the data dir (0600 files).

``<name>.key`` is the current version (hex of 32 bytes; the federation key is base64 of its Ed25519
seed, docs/FEDERATION.md), ``<name>.<key id>.key`` an older version kept by ``rotate``. A version's id is
the first 8 bytes of the SHA-256 of the key, so existing media rows (whose ``key_id`` was computed the
same way) keep opening. The current file is re-read when it changes, so a rotation reaches running
workers without a restart.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
import tempfile
from collections.abc import Mapping
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap, aes_key_wrap
from nacl.signing import SigningKey

from messenger.keystore import (
    ID_BYTES,
    NONCE,
    KeyStore,
    KeyStoreError,
    Signer,
    check_kind,
    check_symmetric,
    split_sealed,
)


def create_once(path: Path, content: str) -> None:
    """Write ``content`` to ``path`` (0600) unless it exists. The content goes to a temporary file that is
    hard-linked into place, so racing processes all end up with one complete file (``os.link`` fails for
    every process but the first)."""
    if path.exists():
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-")
    except OSError as exc:  # e.g. a read-only secret mount that lacks this key
        raise KeyStoreError(f"{path}: no such key and cannot create it: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "w") as out:
            out.write(content)
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        os.unlink(tmp)


def key_id(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[: 2 * ID_BYTES]


class FileKeyStore(KeyStore):
    """Keys in ``directory`` (``paths`` names other files for single keys, e.g. a mounted secret)."""

    backend = "file"

    def __init__(self, directory: Path, paths: Mapping[str, Path] | None = None):
        self.directory, self._paths = directory, dict(paths or {})
        self._versions: dict[tuple[str, str], bytes] = {}
        self._current: dict[str, tuple[tuple[int, int], str]] = {}  # name -> ((inode, mtime), id)

    def path(self, name: str) -> Path:
        return self._paths.get(name) or self.directory / f"{name}.key"

    def _old_path(self, name: str, kid: str) -> Path:
        current = self.path(name)
        return current.with_name(f"{current.stem}.{kid}{current.suffix}")

    def _read(self, path: Path) -> bytes:
        try:
            key = bytes.fromhex(path.read_text().strip())
        except (OSError, ValueError) as exc:
            raise KeyStoreError(f"{path}: not a key file (hex of 32 bytes): {exc}") from None
        if len(key) != 32:
            raise KeyStoreError(f"{path}: a key must be 32 bytes, got {len(key)}")
        return key

    def current_id(self, name: str) -> str:
        check_symmetric(name)
        path = self.path(name)
        create_once(path, secrets.token_hex(32))
        st = path.stat()
        stamp = (st.st_ino, st.st_mtime_ns)
        cached = self._current.get(name)
        if cached and cached[0] == stamp:
            return cached[1]
        key = self._read(path)
        kid = key_id(key)
        self._versions[(name, kid)] = key
        self._current[name] = (stamp, kid)
        return kid

    def _key(self, name: str, kid: str) -> bytes:
        key = self._versions.get((name, kid))
        if key is None and self.current_id(name) != kid:
            path = self._old_path(name, kid)
            if not path.exists():
                raise KeyStoreError(f"key {name} version {kid} is not in {path.parent}")
            key = self._read(path)
            self._versions[(name, kid)] = key
        return key or self._versions[(name, kid)]

    def seal(self, name: str, plaintext: bytes, aad: bytes = b"") -> bytes:
        check_kind(name, "aes")
        kid = self.current_id(name)
        nonce = secrets.token_bytes(NONCE)
        return bytes.fromhex(kid) + nonce + AESGCM(self._key(name, kid)).encrypt(nonce, plaintext, aad)

    def open(self, name: str, sealed: bytes, aad: bytes = b"") -> bytes:
        check_kind(name, "aes")
        kid, nonce, body = split_sealed(sealed)
        try:
            return AESGCM(self._key(name, kid)).decrypt(nonce, body, aad)
        except InvalidTag:
            raise KeyStoreError(f"sealed data does not open under key {name} version {kid}") from None

    def wrap(self, name: str, key: bytes) -> tuple[str, bytes]:
        check_kind(name, "aes")
        kid = self.current_id(name)
        return kid, aes_key_wrap(self._key(name, kid), key)

    def unwrap(self, name: str, key_id: str, wrapped: bytes) -> bytes:
        check_kind(name, "aes")
        try:
            return aes_key_unwrap(self._key(name, key_id), wrapped)
        except InvalidUnwrap:
            raise KeyStoreError(f"wrapped key does not unwrap under key {name} version {key_id}") from None

    def mac(self, name: str, data: bytes) -> bytes:
        check_kind(name, "hmac")
        return hmac.new(self._key(name, self.current_id(name)), data, hashlib.sha256).digest()

    def signer(self, name: str = "federation") -> Signer:
        from messenger.federation.keys import load_or_create

        check_kind(name, "ed25519")
        key: SigningKey = load_or_create(self.path(name))
        return key

    def credential(self, name: str) -> bytes:
        path = self.directory / f"{name}.secret"
        try:
            value = path.read_bytes().strip()
        except OSError as exc:
            raise KeyStoreError(f"{path}: credential {name!r} not found ({exc.strerror})") from None
        if not value:
            raise KeyStoreError(f"{path}: credential {name!r} is empty")
        return value

    def key_ids(self, name: str) -> list[str]:
        current = self.current_id(name)
        prefix = f"{self.path(name).stem}."
        old = sorted(
            p.name.removeprefix(prefix).removesuffix(".key")
            for p in self.path(name).parent.glob(f"{prefix}*.key")
        )
        return [current, *(k for k in old if k != current)]

    def rotate(self, name: str) -> str:
        """Keep the current file as ``<name>.<id>.key``, then replace ``<name>.key`` atomically."""
        check_kind(name, "aes")
        old = self.current_id(name)
        path = self.path(name)
        create_once(self._old_path(name, old), path.read_text())
        new = secrets.token_hex(32)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-")
        with os.fdopen(fd, "w") as out:
            out.write(new)
        os.replace(tmp, path)
        return self.current_id(name)

    def retire(self, name: str, key_id: str) -> None:
        if key_id == self.current_id(name):
            raise KeyStoreError(f"key {name} version {key_id} is the current one; rotate first")
        self._old_path(name, key_id).unlink(missing_ok=True)
        self._versions.pop((name, key_id), None)
