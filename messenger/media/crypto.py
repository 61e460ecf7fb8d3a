"""Encryption at rest: AES-256-GCM per object in fixed-size chunks, data keys wrapped by the node key.

Each object gets a fresh 256-bit data key. The plaintext is cut into ``CHUNK`` byte chunks, each sealed
with AES-256-GCM under the nonce ``stream id (1 byte) || chunk index (10 bytes) || last flag (1 byte)``:
the online "STREAM" construction of Hoang, Reyhanitabar, Rogaway and Vizár ("Online Authenticated-
Encryption and its Nonce-Reuse Misuse-Resistance", CRYPTO 2015), so a range request decrypts only the
chunks it covers while reordering, dropping or truncating chunks still fails authentication. One key
encrypts several streams (the object = 0, its thumbnail = 1) without ever repeating a nonce.

The data key is stored wrapped with AES key wrap (RFC 3394, ``cryptography``'s ``aes_key_wrap``) under
the node's key-encryption key, a file kept outside the media store (``MSGFLEET_MEDIA_KEY_FILE``).
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap, aes_key_wrap

CHUNK = 65_536  # plaintext bytes per sealed chunk
TAG = 16  # GCM tag bytes appended to every chunk (NIST SP 800-38D, 128-bit tag)
SEALED = CHUNK + TAG
OBJECT, THUMBNAIL = 0, 1  # stream ids


class MediaCryptoError(Exception):
    """Stored ciphertext failed authentication or was sealed under another node key."""


def _nonce(stream: int, index: int, last: bool) -> bytes:
    return bytes([stream]) + index.to_bytes(10, "big") + (b"\x01" if last else b"\x00")


def sealed_size(size: int) -> int:
    """Bytes stored for ``size`` plaintext bytes (an empty object is one empty sealed chunk)."""
    return size + TAG * max(1, -(-size // CHUNK))


class Sealer:
    """Seals one stream chunk by chunk; the caller says which chunk is the last."""

    def __init__(self, key: bytes, stream: int = OBJECT):
        self._aead, self._stream, self._index = AESGCM(key), stream, 0

    def seal(self, chunk: bytes, *, last: bool) -> bytes:
        if len(chunk) > CHUNK or (not last and len(chunk) != CHUNK):
            raise ValueError("only the last chunk may be shorter than CHUNK")
        out = self._aead.encrypt(_nonce(self._stream, self._index, last), chunk, None)
        self._index += 1
        return out


def seal_all(key: bytes, data: bytes, stream: int) -> bytes:
    """A whole small stream (thumbnails) sealed at once."""
    sealer = Sealer(key, stream)
    chunks = [data[i : i + CHUNK] for i in range(0, len(data), CHUNK)] or [b""]
    return b"".join(sealer.seal(c, last=i == len(chunks) - 1) for i, c in enumerate(chunks))


def open_chunks(
    key: bytes, sealed: bytes, *, first: int, total: int, stream: int = OBJECT
) -> Iterator[bytes]:
    """Plaintext of consecutive sealed chunks starting at chunk ``first`` of a ``total``-chunk stream."""
    aead = AESGCM(key)
    for offset in range(0, len(sealed), SEALED):
        index = first + offset // SEALED
        try:
            yield aead.decrypt(
                _nonce(stream, index, index == total - 1), sealed[offset : offset + SEALED], None
            )
        except Exception as exc:  # cryptography raises InvalidTag
            raise MediaCryptoError(f"chunk {index} failed authentication") from exc


def chunk_count(size: int) -> int:
    return max(1, -(-size // CHUNK))


class KeyWrapper:
    """The node's key-encryption key: wraps and unwraps per-object data keys."""

    def __init__(self, kek: bytes):
        if len(kek) != 32:
            raise ValueError("the media key must be 32 bytes")
        self._kek = kek
        self.key_id = hashlib.sha256(kek).hexdigest()[:16]  # names the KEK in each row (rotation)

    @classmethod
    def from_file(cls, path: Path) -> KeyWrapper:
        """Load the 32-byte key (hex) from ``path``, creating it (0600) atomically on first use."""
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(secrets.token_hex(32))
            try:
                os.link(tmp, path)  # atomic create-if-absent: concurrent workers agree on one key
            except FileExistsError:
                pass
            finally:
                tmp.unlink()
        return cls(bytes.fromhex(path.read_text().strip()))

    def new_data_key(self) -> tuple[bytes, bytes]:
        """A fresh data key and its wrapped form."""
        key = AESGCM.generate_key(bit_length=256)
        return key, aes_key_wrap(self._kek, key)

    def unwrap(self, wrapped: bytes, key_id: str) -> bytes:
        if key_id != self.key_id:
            raise MediaCryptoError(f"object was sealed under media key {key_id}, this node has {self.key_id}")
        return aes_key_unwrap(self._kek, wrapped)
