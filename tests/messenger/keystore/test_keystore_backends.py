"""Both key-store backends, one contract: sealing, wrapping, MACs and signatures round-trip, tampering
fails, rotation keeps old versions until retired, keys persist; on PKCS#11 (SoftHSM2) no secret can be
read off the token."""

from __future__ import annotations

import hashlib
import hmac
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pkcs11
import pytest
from pkcs11 import Attribute, ObjectClass
from pkcs11.exceptions import AttributeSensitive
from softhsm import Token

from messenger.errors import MessengerConfigError
from messenger.keystore import KeyStore, KeyStoreError
from messenger.keystore.file import FileKeyStore
from messenger.keystore.pkcs11 import Pkcs11KeyStore
from messenger.settings import load_settings


@pytest.fixture(params=["file", "pkcs11"])
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[callable]:  # type: ignore[valid-type]
    """``opener()`` → a key store of the backend; calling it again re-opens the same keys."""
    opened: list[KeyStore] = []
    if request.param == "file":

        def make() -> KeyStore:
            opened.append(FileKeyStore(tmp_path / "keys"))
            return opened[-1]
    else:
        token: Token = request.getfixturevalue("softhsm")

        def make() -> KeyStore:
            opened.append(Pkcs11KeyStore(token.module, token.label, token.pin))
            return opened[-1]

    yield make
    for store in opened:
        store.close()


def test_seal_and_open(opener: callable) -> None:  # type: ignore[valid-type]
    store = opener()
    sealed = store.seal("totp", b"JBSWY3DPEHPK3PXP", aad=b"user-1")
    assert b"JBSWY3DPEHPK3PXP" not in sealed and len(sealed) == 8 + 12 + 16 + 16
    assert opener().open("totp", sealed, aad=b"user-1") == b"JBSWY3DPEHPK3PXP"  # persisted, re-opened
    flipped = bytearray(sealed)
    flipped[-1] ^= 1
    for bad, aad in ((bytes(flipped), b"user-1"), (sealed, b"user-2")):
        with pytest.raises(KeyStoreError):
            store.open("totp", bad, aad=aad)
    with pytest.raises(KeyStoreError, match="not an aes key"):
        store.seal("audit", b"x")


def test_wrap_rotate_retire(opener: callable) -> None:  # type: ignore[valid-type]
    store = opener()
    data_key = os.urandom(32)
    old, wrapped = store.wrap("media", data_key)
    assert len(wrapped) == 40 and data_key not in wrapped  # RFC 3394: n+1 64-bit blocks
    assert store.unwrap("media", old, wrapped) == data_key
    with pytest.raises(KeyStoreError):
        store.unwrap("media", old, wrapped[:-1] + bytes([wrapped[-1] ^ 1]))

    new = store.rotate("media")
    assert new != old and store.current_id("media") == new and store.key_ids("media") == [new, old]
    again = opener()  # another process sees the rotation
    assert again.current_id("media") == new
    assert again.unwrap("media", old, wrapped) == data_key  # the old version still unwraps
    rewrapped_id, rewrapped = again.wrap("media", data_key)
    assert rewrapped_id == new and rewrapped != wrapped
    with pytest.raises(KeyStoreError, match="current"):
        store.retire("media", new)
    store.retire("media", old)
    assert store.key_ids("media") == [new]
    with pytest.raises(KeyStoreError):
        opener().unwrap("media", old, wrapped)
    assert opener().unwrap("media", new, rewrapped) == data_key


def test_mac_and_signature(opener: callable) -> None:  # type: ignore[valid-type]
    store = opener()
    mac = store.mac("audit", b"entry 1")
    assert len(mac) == 32 and opener().mac("audit", b"entry 1") == mac
    assert store.mac("audit", b"entry 2") != mac
    signer = store.signer("federation")
    signature = signer.sign(b"PUT /federation/v1/send").signature
    signer.verify_key.verify(b"PUT /federation/v1/send", signature)  # raises if wrong
    assert bytes(opener().signer("federation").verify_key) == bytes(signer.verify_key)
    with pytest.raises(KeyStoreError):
        store.mac("media", b"x")


def test_file_backend_keys_are_private_and_hmac_is_standard(tmp_path: Path) -> None:
    store = FileKeyStore(tmp_path / "keys")
    store.ensure()
    names = sorted(p.name for p in (tmp_path / "keys").iterdir())
    assert names == ["audit.key", "federation.key", "media.key", "totp.key"]
    for path in (tmp_path / "keys").iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    key = bytes.fromhex((tmp_path / "keys" / "audit.key").read_text())
    assert store.mac("audit", b"x") == hmac.new(key, b"x", hashlib.sha256).digest()
    media = bytes.fromhex((tmp_path / "keys" / "media.key").read_text())
    assert store.current_id("media") == hashlib.sha256(media).hexdigest()[:16]  # rows written before


def test_a_missing_key_in_a_read_only_dir_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys").chmod(0o500)
    try:
        if os.access(tmp_path / "keys", os.W_OK):  # root ignores the mode: a file in the way instead
            (tmp_path / "keys").chmod(0o700)
            (tmp_path / "keys").rmdir()
            (tmp_path / "keys").write_text("not a directory")
        with pytest.raises(KeyStoreError, match=r"audit.key: no such key and cannot create it"):
            FileKeyStore(tmp_path / "keys").mac("audit", b"x")
    finally:
        if (tmp_path / "keys").is_dir():
            (tmp_path / "keys").chmod(0o700)


def test_token_keys_cannot_be_read_off_the_token(softhsm: Token) -> None:
    store = Pkcs11KeyStore(softhsm.module, softhsm.label, softhsm.pin)
    store.ensure()
    store.close()
    token = pkcs11.lib(softhsm.module).get_token(token_label=softhsm.label)
    with token.open(user_pin=softhsm.pin) as session:
        secrets = list(session.get_objects({Attribute.CLASS: ObjectClass.SECRET_KEY}))
        private = list(session.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY}))
        labels = sorted(str(o[Attribute.LABEL]) for o in secrets + private)
        assert labels == ["msgfleet:audit", "msgfleet:federation", "msgfleet:media", "msgfleet:totp"]
        for obj in secrets + private:
            assert obj[Attribute.SENSITIVE] and not obj[Attribute.EXTRACTABLE], obj[Attribute.LABEL]
            with pytest.raises(AttributeSensitive):
                obj[Attribute.VALUE]


def test_a_wrong_pin_or_token_is_one_line(softhsm: Token) -> None:
    with pytest.raises(KeyStoreError, match=r"PKCS#11 token 'msgfleet-test'.*PinIncorrect"):
        Pkcs11KeyStore(softhsm.module, softhsm.label, "0000")
    with pytest.raises(KeyStoreError, match="PKCS#11 token 'nope'"):
        Pkcs11KeyStore(softhsm.module, "nope", softhsm.pin)


def test_keystore_dir_inside_the_data_dir_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "node"
    with pytest.raises(MessengerConfigError, match=r"keystore_dir .* is inside data_dir"):
        load_settings(state="RU-MOW", data_dir=data, keystore_dir=data / "keys")
    assert load_settings(state="RU-MOW", data_dir=data, keystore_dir=tmp_path / "keys").keystore_dir
    with pytest.raises(MessengerConfigError, match="needs keystore_pkcs11_module"):
        load_settings(state="RU-MOW", data_dir=data, keystore="pkcs11")


def test_credentials_are_read_as_the_operator_put_them(tmp_path: Path, softhsm: Token) -> None:
    """An OpenID client secret (docs/IDENTITY.md): a file in the key directory, or a private data object
    on the token; a missing one is a ``KeyStoreError`` naming it."""
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "oidc-esia.secret").write_text("s3cret\n")
    token = pkcs11.lib(softhsm.module).get_token(token_label=softhsm.label)
    with token.open(user_pin=softhsm.pin, rw=True) as session:
        session.create_object(
            {
                Attribute.CLASS: ObjectClass.DATA,
                Attribute.LABEL: "msgfleet:credential:oidc-esia",
                Attribute.VALUE: b"s3cret",
                Attribute.TOKEN: True,
                Attribute.PRIVATE: True,
            }
        )
    stores: list[KeyStore] = [
        FileKeyStore(tmp_path / "keys"),
        Pkcs11KeyStore(softhsm.module, softhsm.label, softhsm.pin),
    ]
    for store in stores:
        assert store.credential("oidc-esia") == b"s3cret", store.backend
        with pytest.raises(KeyStoreError, match="oidc-other"):
            store.credential("oidc-other")
        store.close()
