"""The at-rest format: chunked AES-256-GCM streams detect tampering; data keys unwrap only with their key."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from messenger.keystore.file import FileKeyStore
from messenger.media.crypto import (
    CHUNK,
    SEALED,
    KeyWrapper,
    MediaCryptoError,
    Sealer,
    chunk_count,
    open_chunks,
)


def seal(key: bytes, data: bytes) -> bytes:
    sealer, n = Sealer(key), chunk_count(len(data))
    return b"".join(sealer.seal(data[i * CHUNK : (i + 1) * CHUNK], last=i == n - 1) for i in range(n))


def test_roundtrip_and_tampering(tmp_path: Path) -> None:
    wrapper = KeyWrapper(FileKeyStore(tmp_path))
    key, key_id, wrapped = wrapper.new_data_key()
    assert wrapped != key and len(wrapped) == 40  # RFC 3394: n+1 64-bit blocks
    data = os.urandom(3 * CHUNK + 10)
    sealed = seal(key, data)
    assert len(sealed) == len(data) + 4 * 16
    assert b"".join(open_chunks(wrapper.unwrap(wrapped, key_id), sealed, first=0, total=4)) == data
    # a middle chunk alone decrypts at its index (what range reads do)
    assert (
        b"".join(open_chunks(key, sealed[SEALED : 2 * SEALED], first=1, total=4)) == data[CHUNK : 2 * CHUNK]
    )

    flipped = bytearray(sealed)
    flipped[100] ^= 1
    swapped = sealed[SEALED : 2 * SEALED] + sealed[:SEALED] + sealed[2 * SEALED :]
    truncated = sealed[: 3 * SEALED]  # drop the last chunk: chunk 2 was not sealed as last
    for bad, total in ((bytes(flipped), 4), (swapped, 4), (truncated, 3)):
        with pytest.raises(MediaCryptoError):
            b"".join(open_chunks(key, bad, first=0, total=total))


def test_key_file_is_stable_and_other_keys_refuse(tmp_path: Path) -> None:
    first = KeyWrapper(FileKeyStore(tmp_path / "k"))
    again = KeyWrapper(FileKeyStore(tmp_path / "k"))
    key, key_id, wrapped = first.new_data_key()
    assert again.unwrap(wrapped, key_id) == key
    other = KeyWrapper(FileKeyStore(tmp_path / "other"))
    other.new_data_key()
    with pytest.raises(MediaCryptoError):
        other.unwrap(wrapped, key_id)
