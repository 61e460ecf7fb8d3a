"""PKCS#11 backend (python-pkcs11): keys generated on the token, sensitive and not extractable.

Objects are found by label: ``msgfleet:<name>`` is the current version, ``msgfleet:<name>:old`` an
older one kept by ``rotate``; ``CKA_ID`` holds the version's 8-byte id. Symmetric keys are AES-256
(``media``, ``totp``: CKM_AES_KEY_WRAP, CKM_AES_GCM) or 256-bit generic secrets (``audit``:
CKM_SHA256_HMAC); ``federation`` is an Ed25519 key pair (CKM_EDDSA). Tested against SoftHSM2
(tests/messenger/keystore/); any token with these mechanisms will do.

A media data key is generated in software (the node encrypts media in software), copied into a session
object for C_WrapKey and destroyed at once; unwrap returns it the same way. One session per process:
the node calls from its event loop only.
"""

from __future__ import annotations

import secrets
from typing import Any

import pkcs11
from nacl.signing import VerifyKey
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
from pkcs11.exceptions import PKCS11Error, UserAlreadyLoggedIn
from pkcs11.util.ec import encode_named_curve_parameters

from messenger.keystore import (
    ID_BYTES,
    KINDS,
    NONCE,
    KeyStore,
    KeyStoreError,
    Signer,
    check_kind,
    check_symmetric,
    split_sealed,
)

ED25519_OID = "1.3.101.112"  # RFC 8410, id-Ed25519
_KEY = {"aes": KeyType.AES, "hmac": KeyType.GENERIC_SECRET}


class _Signature:
    def __init__(self, signature: bytes):
        self.signature = signature


class TokenSigner:
    """An Ed25519 private key on the token, shaped like PyNaCl's ``SigningKey`` for federation."""

    def __init__(self, private: Any, verify_key: VerifyKey):
        self._private, self.verify_key = private, verify_key

    def sign(self, message: bytes) -> _Signature:
        return _Signature(self._private.sign(message, mechanism=Mechanism.EDDSA))


class Pkcs11KeyStore(KeyStore):
    backend = "pkcs11"

    def __init__(self, module: str, token_label: str, pin: str):
        try:
            token = pkcs11.lib(module).get_token(token_label=token_label)
            try:
                self._session = token.open(user_pin=pin, rw=True)
            except UserAlreadyLoggedIn:  # another store of this process logged in: the login is shared
                self._session = token.open(rw=True)
        except (PKCS11Error, RuntimeError, OSError) as exc:
            raise KeyStoreError(
                f"PKCS#11 token {token_label!r} via {module}: {type(exc).__name__} {exc}"
            ) from None
        self._signers: dict[str, TokenSigner] = {}

    def close(self) -> None:
        self._session.close()

    def _objects(self, name: str, *, old: bool = False, kid: str | None = None) -> list[Any]:
        attrs: dict[Attribute, Any] = {
            Attribute.CLASS: ObjectClass.SECRET_KEY,
            Attribute.LABEL: f"msgfleet:{name}" + (":old" if old else ""),
        }
        if kid is not None:
            attrs[Attribute.ID] = bytes.fromhex(kid)
        return list(self._session.get_objects(attrs))

    def _generate(self, name: str) -> Any:
        kind = KINDS[name]
        usage = (
            {Attribute.SIGN: True, Attribute.VERIFY: True}
            if kind == "hmac"
            else {
                Attribute.ENCRYPT: True,
                Attribute.DECRYPT: True,
                Attribute.WRAP: True,
                Attribute.UNWRAP: True,
            }
        )
        return self._session.generate_key(
            _KEY[kind],
            256,
            id=secrets.token_bytes(ID_BYTES),
            label=f"msgfleet:{name}",
            store=True,
            template={Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: False, **usage},
        )

    def _current(self, name: str) -> Any:
        check_symmetric(name)
        found = self._objects(name)
        # Two current keys exist only for a moment of a rotation; either one opens what it sealed.
        return found[0] if found else self._generate(name)

    def _version(self, name: str, kid: str) -> Any:
        found = self._objects(name, kid=kid) or self._objects(name, old=True, kid=kid)
        if not found:
            raise KeyStoreError(f"key {name} version {kid} is not on the token")
        return found[0]

    def current_id(self, name: str) -> str:
        return bytes(self._current(name)[Attribute.ID]).hex()

    def key_ids(self, name: str) -> list[str]:
        current = self.current_id(name)
        old = sorted(bytes(o[Attribute.ID]).hex() for o in self._objects(name, old=True))
        return [current, *old]

    def rotate(self, name: str) -> str:
        check_kind(name, "aes")
        old = self._objects(name)
        new = self._generate(name)
        for obj in old:
            obj[Attribute.LABEL] = f"msgfleet:{name}:old"
        return bytes(new[Attribute.ID]).hex()

    def retire(self, name: str, key_id: str) -> None:
        if key_id == self.current_id(name):
            raise KeyStoreError(f"key {name} version {key_id} is the current one; rotate first")
        for obj in self._objects(name, old=True, kid=key_id):
            obj.destroy()

    def seal(self, name: str, plaintext: bytes, aad: bytes = b"") -> bytes:
        check_kind(name, "aes")
        key, nonce = self._current(name), secrets.token_bytes(NONCE)
        body = key.encrypt(
            plaintext, mechanism=Mechanism.AES_GCM, mechanism_param=pkcs11.GCMParams(nonce, aad)
        )
        return bytes(key[Attribute.ID]) + nonce + body

    def open(self, name: str, sealed: bytes, aad: bytes = b"") -> bytes:
        check_kind(name, "aes")
        kid, nonce, body = split_sealed(sealed)
        try:
            out: bytes = self._version(name, kid).decrypt(
                body, mechanism=Mechanism.AES_GCM, mechanism_param=pkcs11.GCMParams(nonce, aad)
            )
        except PKCS11Error:
            raise KeyStoreError(f"sealed data does not open under key {name} version {kid}") from None
        return out

    def wrap(self, name: str, key: bytes) -> tuple[str, bytes]:
        check_kind(name, "aes")
        kek = self._current(name)
        data_key = self._session_key(key)
        try:
            wrapped: bytes = kek.wrap_key(data_key, mechanism=Mechanism.AES_KEY_WRAP)
        finally:
            data_key.destroy()
        return bytes(kek[Attribute.ID]).hex(), wrapped

    def unwrap(self, name: str, key_id: str, wrapped: bytes) -> bytes:
        check_kind(name, "aes")
        try:
            data_key = self._version(name, key_id).unwrap_key(
                ObjectClass.SECRET_KEY,
                KeyType.AES,
                wrapped,
                mechanism=Mechanism.AES_KEY_WRAP,
                store=False,
                template={Attribute.SENSITIVE: False, Attribute.EXTRACTABLE: True},
            )
        except PKCS11Error:
            raise KeyStoreError(f"wrapped key does not unwrap under key {name} version {key_id}") from None
        try:
            return bytes(data_key[Attribute.VALUE])
        finally:
            data_key.destroy()

    def _session_key(self, value: bytes) -> Any:
        return self._session.create_object(
            {
                Attribute.CLASS: ObjectClass.SECRET_KEY,
                Attribute.KEY_TYPE: KeyType.AES,
                Attribute.VALUE: value,
                Attribute.TOKEN: False,
                Attribute.SENSITIVE: False,
                Attribute.EXTRACTABLE: True,
            }
        )

    def credential(self, name: str) -> bytes:
        label = f"msgfleet:credential:{name}"
        found = list(self._session.get_objects({Attribute.CLASS: ObjectClass.DATA, Attribute.LABEL: label}))
        if not found:
            raise KeyStoreError(f"PKCS#11 token has no data object {label!r}")
        value: bytes = found[0][Attribute.VALUE]
        return value

    def mac(self, name: str, data: bytes) -> bytes:
        check_kind(name, "hmac")
        out: bytes = self._current(name).sign(data, mechanism=Mechanism.SHA256_HMAC)
        return out

    def signer(self, name: str = "federation") -> Signer:
        check_kind(name, "ed25519")
        if name in self._signers:
            return self._signers[name]
        label = f"msgfleet:{name}"
        private = list(
            self._session.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY, Attribute.LABEL: label})
        )
        if not private:
            params = encode_named_curve_parameters(ED25519_OID)
            self._session.generate_keypair(
                KeyType.EC_EDWARDS,
                store=True,
                label=label,
                id=secrets.token_bytes(ID_BYTES),
                public_template={Attribute.EC_PARAMS: params},
                private_template={Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: False},
            )
            private = list(
                self._session.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY, Attribute.LABEL: label})
            )
        public = next(
            iter(self._session.get_objects({Attribute.CLASS: ObjectClass.PUBLIC_KEY, Attribute.LABEL: label}))
        )
        point = bytes(public[Attribute.EC_POINT])
        raw = point[2:] if len(point) == 34 and point[:2] == b"\x04\x20" else point  # DER OCTET STRING
        self._signers[name] = TokenSigner(private[0], VerifyKey(raw))
        return self._signers[name]
