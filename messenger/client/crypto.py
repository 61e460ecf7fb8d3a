"""End-to-end encryption of the reference client with PyNaCl.

Per recipient device: ``SealedBox(device X25519 key).encrypt(SigningKey.sign(payload))``. The payload
binds the sender device and the chat, so a recipient checks who wrote it (Ed25519) and that it was not
replayed into another chat; only the holder of the device's private key can open it.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass

from nacl.exceptions import BadSignatureError, CryptoError
from nacl.public import PrivateKey, PublicKey, SealedBox
from nacl.secret import SecretBox
from nacl.signing import SigningKey, VerifyKey


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def unb64(text: str) -> bytes:
    return base64.b64decode(text)


class DecryptError(Exception):
    """An envelope that does not open, is not signed by the claimed device, or belongs elsewhere."""


@dataclass(frozen=True)
class DeviceKeys:
    """A device's private keys: X25519 for sealed boxes, Ed25519 for signatures, and one-time prekeys."""

    box: PrivateKey
    signing: SigningKey
    prekeys: tuple[PrivateKey, ...]

    @classmethod
    def generate(cls, prekeys: int = 10) -> DeviceKeys:
        return cls(
            PrivateKey.generate(), SigningKey.generate(), tuple(PrivateKey.generate() for _ in range(prekeys))
        )

    def publication(self) -> dict[str, object]:
        """The body of ``PUT /v1/keys``."""
        return {
            "identity_key": b64(bytes(self.box.public_key)),
            "signing_key": b64(bytes(self.signing.verify_key)),
            "prekeys": [{"id": i, "key": b64(bytes(k.public_key))} for i, k in enumerate(self.prekeys)],
        }

    def seal(
        self, *, sender_device: str, chat_id: str, body: Mapping[str, object], recipients: Mapping[str, str]
    ) -> dict[str, str]:
        """Ciphertext per recipient device id, given each device's base64 identity key."""
        signed = self.signing.sign(json.dumps({"d": sender_device, "c": chat_id, "b": body}).encode())
        return {
            device: b64(SealedBox(PublicKey(unb64(key))).encrypt(bytes(signed)))
            for device, key in recipients.items()
        }

    def open(
        self, ciphertext: str, *, sender_device: str, chat_id: str, signing_key: str
    ) -> dict[str, object]:
        """The body of an envelope addressed to this device, after checking signature, sender and chat."""
        try:
            signed = SealedBox(self.box).decrypt(unb64(ciphertext))
            payload = json.loads(VerifyKey(unb64(signing_key)).verify(signed))
        except (CryptoError, BadSignatureError, ValueError) as exc:
            raise DecryptError(f"envelope from {sender_device} does not open: {exc}") from exc
        if payload.get("d") != sender_device or payload.get("c") != chat_id:
            raise DecryptError("envelope was signed for another sender or chat")
        body: dict[str, object] = payload["b"]
        return body

    def pickle(self, key: bytes) -> str:
        """The private keys encrypted with the 32-byte ``key`` (a profile on disk, ``client.profile``)."""
        state = {
            "box": b64(bytes(self.box)),
            "signing": b64(bytes(self.signing)),
            "prekeys": [b64(bytes(k)) for k in self.prekeys],
        }
        return b64(SecretBox(key).encrypt(json.dumps(state).encode()))

    @classmethod
    def from_pickle(cls, text: str, key: bytes) -> DeviceKeys:
        try:
            state = json.loads(SecretBox(key).decrypt(unb64(text)))
        except (CryptoError, ValueError) as exc:
            raise DecryptError(f"the stored device keys do not open: {exc}") from None
        return cls(
            PrivateKey(unb64(state["box"])),
            SigningKey(unb64(state["signing"])),
            tuple(PrivateKey(unb64(k)) for k in state["prekeys"]),
        )
