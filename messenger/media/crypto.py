"""Encryption at rest: AES-256-GCM per object in fixed-size chunks, data keys wrapped by the node key.

Each object gets a fresh 256-bit data key. The plaintext is cut into ``CHUNK`` byte chunks, each sealed
with AES-256-GCM under the nonce ``stream id (1 byte) || chunk index (10 bytes) || last flag (1 byte)``:
the online "STREAM" construction of Hoang, Reyhanitabar, Rogaway and Vizár ("Online Authenticated-
Encryption and its Nonce-Reuse Misuse-Resistance", CRYPTO 2015), so a range request decrypts only the
chunks it covers while reordering, dropping or truncating chunks still fails authentication. One key
encrypts several streams (the object = 0, its thumbnail = 1) without ever repeating a nonce.

The data key is stored wrapped with AES key wrap (RFC 3394) under the key store's ``media`` key (a file
apart from the data dir, or a PKCS#11 token), with the id of the key version; rotating that key re-wraps
the data keys without touching the media (``messenger.media.rekey``).
"""

from __future__ import annotations

from collections.abc import Iterator

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from messenger.keystore import KeyStore, KeyStoreError

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
    """Per-object data keys, wrapped by the key store's ``media`` key (``messenger.keystore``)."""

    def __init__(self, keys: KeyStore):
        self._keys = keys

    def new_data_key(self) -> tuple[bytes, str, bytes]:
        """A fresh data key, the id of the media key version that wrapped it, and its wrapped form."""
        key = AESGCM.generate_key(bit_length=256)
        key_id, wrapped = self._keys.wrap("media", key)
        return key, key_id, wrapped

    def unwrap(self, wrapped: bytes, key_id: str) -> bytes:
        try:
            return self._keys.unwrap("media", key_id, wrapped)
        except KeyStoreError as exc:
            raise MediaCryptoError(str(exc)) from None
