"""End-to-end encryption of the reference client: Olm and Megolm through ``vodozemac`` (the Rust
implementation Element's clients use), as Matrix does it.

* A device's ``Account`` holds its Curve25519 identity key and Ed25519 signing key; it signs its
  identity key and its one-time and fallback keys, which go to the node's key directory.
* Pairwise Olm ``Session`` s (one per peer device, opened with a one-time key claimed from the directory)
  carry to-device messages: room keys and verification.
* Each chat has an outbound Megolm ``GroupSession`` per sending device: one ciphertext per message for
  every device. Its session key goes to the chat's devices over Olm; each keeps an
  ``InboundGroupSession`` that decrypts from the index it was given (forward secrecy: an export at a
  later index cannot decrypt earlier messages). The outbound session rotates when a member or device
  leaves, and after ``rotation_messages`` messages or ``rotation_seconds`` (Matrix's defaults: 100
  messages, one week; https://spec.matrix.org/v1.9/client-server-api/#mroom_key).
* Key backup: inbound sessions encrypted to a recovery key's public half (``PkEncryption``; the node
  stores opaque blobs). Verification: ``Sas`` (emoji or decimals) plus MACs of the devices' Ed25519 keys.

State is persisted with :meth:`DeviceCrypto.pickle` (vodozemac pickles, encrypted with a 32-byte key).
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import Any

import vodozemac as vz


class DecryptError(Exception):
    """A message that does not open: no room key for its session, a forged or replayed ciphertext."""


class VerificationFailed(Exception):
    """A SAS verification that was refused: codes that did not match, a MAC that does not verify."""


def key_id_number(key_id: str) -> int:
    """vodozemac names one-time keys by the base64 of an 8-byte counter; the directory keys them by int."""
    return int.from_bytes(base64.b64decode(key_id + "=" * (-len(key_id) % 4)), "big")


def canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def safety_fingerprint(user_id: str, signing_keys: list[str]) -> str:
    """A user's safety number: SHA-256 over the user id and the sorted Ed25519 keys of their devices,
    as 12 groups of 5 digits (Signal shows 60 digits the same way). It changes when a device is added,
    removed or re-keyed; two users compare it out of band."""
    digest = hashlib.sha256(canonical([user_id, sorted(signing_keys)])).digest()
    groups = [int.from_bytes(digest[i : i + 5], "big") % 100_000 for i in range(0, 60, 5) if i + 5 <= 32]
    while len(groups) < 12:  # 32 bytes give 6 groups of 5 bytes; hash again for the other 6
        digest = hashlib.sha256(digest).digest()
        groups += [int.from_bytes(digest[i : i + 5], "big") % 100_000 for i in range(0, 30, 5)]
    return " ".join(f"{g:05d}" for g in groups[:12])


@dataclass
class Outbound:
    """This device's current Megolm session of a chat and the devices that have its key."""

    session: vz.GroupSession
    created: float
    shared_with: set[str] = field(default_factory=set)
    members: frozenset[str] = frozenset()


@dataclass
class Inbound:
    session: vz.InboundGroupSession
    chat_id: str
    sender_device: str


@dataclass
class DeviceCrypto:
    """A device's crypto state. ``rotation_messages``/``rotation_seconds``: when an outbound Megolm
    session is replaced even if nobody left."""

    account: vz.Account
    sessions: dict[str, list[vz.Session]] = field(default_factory=dict)  # peer curve25519 key -> sessions
    outbound: dict[str, Outbound] = field(default_factory=dict)  # chat id
    inbound: dict[str, Inbound] = field(default_factory=dict)  # Megolm session id
    verified: set[str] = field(default_factory=set)  # device ids verified by SAS
    rotation_messages: int = 100
    rotation_seconds: float = 7 * 86400.0

    @classmethod
    def generate(cls, one_time_keys: int = 20) -> DeviceCrypto:
        account = vz.Account()
        account.generate_one_time_keys(one_time_keys)
        account.generate_fallback_key()  # type: ignore[attr-defined]  # in vodozemac 0.10.0, not its stubs
        return cls(account)

    @property
    def identity_key(self) -> str:
        return str(self.account.curve25519_key.to_base64())

    @property
    def signing_key(self) -> str:
        return str(self.account.ed25519_key.to_base64())

    def sign(self, text: str) -> str:
        return str(self.account.sign(text.encode()).to_base64())

    def publication(self) -> dict[str, object]:
        """The body of ``PUT /v1/keys``: signed identity, one-time and fallback keys (then published)."""

        def signed(key_id: str, key: vz.Curve25519PublicKey) -> dict[str, object]:
            text = key.to_base64()
            return {"id": key_id_number(key_id), "key": text, "signature": self.sign(text)}

        body: dict[str, object] = {
            "identity_key": self.identity_key,
            "signing_key": self.signing_key,
            "identity_signature": self.sign(self.identity_key),
            "prekeys": [signed(i, k) for i, k in self.account.one_time_keys.items()],
        }
        fallback = self.account.fallback_key  # type: ignore[attr-defined]  # as generate_fallback_key
        if fallback:
            [(key_id, key)] = fallback.items()
            body["fallback_key"] = signed(key_id, key)
        self.account.mark_keys_as_published()
        return body

    # --- Olm (to-device) ------------------------------------------------------------------------------------

    def has_session(self, identity_key: str) -> bool:
        return bool(self.sessions.get(identity_key))

    def open_session(self, identity_key: str, signing_key: str, one_time_key: str, signature: str) -> None:
        """Start an Olm session with a peer device from a one-time key claimed from the directory, after
        checking that the peer device's signing key signed it."""
        verify(signing_key, one_time_key, signature, "one-time key")
        session = self.account.create_outbound_session(
            vz.Curve25519PublicKey.from_base64(identity_key), vz.Curve25519PublicKey.from_base64(one_time_key)
        )
        self.sessions.setdefault(identity_key, []).insert(0, session)

    def olm_encrypt(self, identity_key: str, payload: dict[str, Any]) -> str:
        """An Olm ciphertext for the peer (``"<type>:<base64>"``), with the newest session to it."""
        message_type, body = self.sessions[identity_key][0].encrypt(canonical(payload)).to_parts()
        return f"{message_type}:{base64.b64encode(body).decode()}"

    def olm_decrypt(self, identity_key: str, ciphertext: str) -> dict[str, Any]:
        """Open an Olm ciphertext from the peer whose identity key is ``identity_key``: with a session we
        have, or (a pre-key message) a new inbound session, which consumes our one-time key."""
        try:
            kind, _, body = ciphertext.partition(":")
            message = vz.AnyOlmMessage.from_parts(int(kind), base64.b64decode(body))
        except (ValueError, vz.DecodeException) as exc:
            raise DecryptError(f"to-device message is not an Olm message: {exc}") from exc
        pre_key = message.to_pre_key()  # None for a normal message
        known = self.sessions.setdefault(identity_key, [])
        for session in known:
            if pre_key is not None and not session.session_matches(pre_key):
                continue
            try:
                plaintext = session.decrypt(message)
            except vz.OlmDecryptionException:
                continue
            return _payload(plaintext)
        if pre_key is None:
            raise DecryptError("no Olm session opens this message")
        try:
            session, plaintext = self.account.create_inbound_session(
                vz.Curve25519PublicKey.from_base64(identity_key), pre_key
            )
        except (vz.SessionCreationException, vz.KeyException) as exc:
            raise DecryptError(f"pre-key message does not open: {exc}") from exc
        known.insert(0, session)
        return _payload(plaintext)

    # --- Megolm (messages) ----------------------------------------------------------------------------------

    def outbound_for(
        self, chat_id: str, *, device_id: str, devices: set[str], members: frozenset[str]
    ) -> Outbound:
        """The chat's outbound session, replaced if a member or device left since it was made or it is due
        (``rotation_messages``/``rotation_seconds``)."""
        current = self.outbound.get(chat_id)
        if (
            current is None
            or not current.members <= members
            or not current.shared_with <= devices
            or current.session.message_index >= self.rotation_messages
            or time.time() - current.created >= self.rotation_seconds
        ):
            current = Outbound(vz.GroupSession(), time.time(), members=members)
            self.outbound[chat_id] = current
            self.import_room_key(chat_id, device_id, current.session.session_key.to_base64())
        current.members = current.members | members
        return current

    def room_key(self, chat_id: str, outbound: Outbound) -> dict[str, Any]:
        """The to-device payload that shares ``outbound`` from its current index."""
        return {
            "type": "room_key",
            "chat_id": chat_id,
            "session_id": outbound.session.session_id,
            "session_key": outbound.session.session_key.to_base64(),
        }

    def import_room_key(
        self, chat_id: str, sender_device: str, session_key: str, *, exported: bool = False
    ) -> str:
        """Keep an inbound session (from a ``room_key`` to-device message, or a backup's export); an index
        we already hold from further back is kept."""
        try:
            session = (
                vz.InboundGroupSession.import_session(vz.ExportedSessionKey(session_key))
                if exported
                else vz.InboundGroupSession(vz.SessionKey(session_key))
            )
        except (vz.SessionKeyDecodeException, ValueError) as exc:
            raise DecryptError(f"room key does not decode: {exc}") from exc
        known = self.inbound.get(session.session_id)
        if known is not None and (known.chat_id != chat_id or known.sender_device != sender_device):
            raise DecryptError(f"room key {session.session_id} was given for another chat or sender")
        if known is None or session.first_known_index < known.session.first_known_index:
            self.inbound[session.session_id] = Inbound(session, chat_id, sender_device)
        return str(session.session_id)

    def encrypt(self, outbound: Outbound, chat_id: str, body: Any) -> str:
        return str(outbound.session.encrypt(canonical({"chat_id": chat_id, "body": body})).to_base64())

    def decrypt(self, *, chat_id: str, sender_device: str, session_id: str, ciphertext: str) -> Any:
        """The body of a message, if this device holds the room key of its session from its index."""
        inbound = self.inbound.get(session_id)
        if inbound is None:
            raise DecryptError(f"no room key for session {session_id} of {sender_device}")
        if inbound.chat_id != chat_id or inbound.sender_device != sender_device:
            raise DecryptError(f"session {session_id} belongs to another chat or sender")
        try:
            plaintext = inbound.session.decrypt(vz.MegolmMessage.from_base64(ciphertext)).plaintext
        except (vz.MegolmDecryptionException, vz.DecodeException) as exc:
            raise DecryptError(f"message of session {session_id} does not open: {exc}") from exc
        payload = _payload(plaintext)
        if payload.get("chat_id") != chat_id:
            raise DecryptError("message was encrypted for another chat")
        return payload["body"]

    # --- backup ---------------------------------------------------------------------------------------------

    def backup_blobs(self, public_key: str) -> dict[str, str]:
        """Every inbound session, exported at its first known index and encrypted to ``public_key``."""
        encryption = vz.PkEncryption.from_key(vz.Curve25519PublicKey.from_base64(public_key))
        out = {}
        for session_id, inbound in self.inbound.items():
            exported = inbound.session.export_at(inbound.session.first_known_index)
            assert exported is not None  # an inbound session can always export its first known index
            plain = canonical(
                {
                    "chat_id": inbound.chat_id,
                    "sender_device": inbound.sender_device,
                    "session_key": exported.to_base64(),
                }
            )
            out[session_id] = "|".join(encryption.encrypt(plain).to_base64())
        return out

    def restore_blobs(self, recovery_key: str, blobs: dict[str, str]) -> int:
        decryption = recovery_decryption(recovery_key)
        for blob in blobs.values():
            try:
                ephemeral, mac, ciphertext = blob.split("|")
                plain = decryption.decrypt(vz.Message.from_base64(ciphertext, mac, ephemeral))
            except (ValueError, vz.PkDecodeException) as exc:
                raise DecryptError(f"backed-up key does not open with this recovery key: {exc}") from exc
            item = _payload(plain)
            self.import_room_key(item["chat_id"], item["sender_device"], item["session_key"], exported=True)
        return len(blobs)

    # --- persistence ----------------------------------------------------------------------------------------

    def pickle(self, key: bytes) -> str:
        """All state as JSON of vodozemac pickles (each encrypted with the 32-byte ``key``)."""
        return json.dumps(
            {
                "account": self.account.pickle(key),
                "sessions": {k: [s.pickle(key) for s in v] for k, v in self.sessions.items()},
                "outbound": {
                    c: [o.session.pickle(key), o.created, sorted(o.shared_with), sorted(o.members)]
                    for c, o in self.outbound.items()
                },
                "inbound": {
                    s: [i.session.pickle(key), i.chat_id, i.sender_device] for s, i in self.inbound.items()
                },
                "verified": sorted(self.verified),
                "rotation": [self.rotation_messages, self.rotation_seconds],
            }
        )

    @classmethod
    def from_pickle(cls, text: str, key: bytes) -> DeviceCrypto:
        try:
            state = json.loads(text)
            account = vz.Account.from_pickle(state["account"], key)
        except (ValueError, KeyError, TypeError, vz.PickleException) as exc:
            raise DecryptError(f"the stored device state does not open: {exc}") from None
        return cls(
            account,
            {k: [vz.Session.from_pickle(s, key) for s in v] for k, v in state["sessions"].items()},
            {
                c: Outbound(vz.GroupSession.from_pickle(p, key), created, set(shared), frozenset(members))
                for c, (p, created, shared, members) in state["outbound"].items()
            },
            {
                s: Inbound(vz.InboundGroupSession.from_pickle(p, key), chat, sender)
                for s, (p, chat, sender) in state["inbound"].items()
            },
            set(state["verified"]),
            *state["rotation"],
        )


def new_recovery_key() -> str:
    """A fresh recovery key (base64 of a Curve25519 secret key): the user writes it down."""
    return str(vz.PkDecryption().key.to_base64())  # type: ignore[attr-defined]  # in 0.10.0, not its stubs


def recovery_decryption(recovery_key: str) -> vz.PkDecryption:
    try:
        return vz.PkDecryption.from_key(vz.Curve25519SecretKey.from_base64(recovery_key))
    except (vz.KeyException, vz.PkInvalidKeySizeException, ValueError) as exc:
        raise DecryptError(f"not a recovery key: {exc}") from exc


def recovery_public_key(recovery_key: str) -> str:
    return str(recovery_decryption(recovery_key).public_key.to_base64())


def verify(signing_key: str, text: str, signature: str, what: str) -> None:
    try:
        vz.Ed25519PublicKey.from_base64(signing_key).verify_signature(
            text.encode(), vz.Ed25519Signature.from_base64(signature)
        )
    except (vz.SignatureException, vz.KeyException, ValueError) as exc:
        raise DecryptError(f"{what} is not signed by the device's signing key") from exc


def _payload(plaintext: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(plaintext)
    except ValueError as exc:
        raise DecryptError("decrypted payload is not JSON") from exc
    if not isinstance(payload, dict):
        raise DecryptError("decrypted payload is not an object")
    return payload
