"""Signed server-to-server requests.

The signature (Ed25519) covers ``METHOD \\n PATH?QUERY \\n sha256(body) hex \\n timestamp \\n origin \\n
destination \\n nonce``: a captured request cannot be replayed to another node, another path or with
another body, and is refused once its timestamp is more than ``MAX_SKEW_S`` away from the receiver's
clock. Inside that window the receiver refuses a nonce it has seen (``messenger.federation.routes``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import secrets
import time
from collections.abc import Mapping

from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from messenger.keystore import Signer

# The rule: requests whose clock differs from ours by more than 5 minutes are refused.
MAX_SKEW_S = 300.0

ORIGIN = "X-Msgfleet-Origin"
DESTINATION = "X-Msgfleet-Destination"
TIMESTAMP = "X-Msgfleet-Timestamp"
SIGNATURE = "X-Msgfleet-Signature"
NONCE = "X-Msgfleet-Nonce"
MAX_NONCE = 64


class SignatureRefused(Exception):
    """Why a request's signature headers are not acceptable: ``reason`` is the API error code."""

    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason, self.detail = reason, detail


def signed_string(
    method: str, target: str, body: bytes, ts: str, origin: str, destination: str, nonce: str
) -> bytes:
    digest = hashlib.sha256(body).hexdigest()
    return "\n".join((method.upper(), target, digest, ts, origin, destination, nonce)).encode()


def sign_headers(
    key: Signer,
    *,
    method: str,
    target: str,
    body: bytes,
    origin: str,
    destination: str,
    now: float | None = None,
) -> dict[str, str]:
    """The headers that authenticate one request from ``origin`` to ``destination``."""
    ts, nonce = f"{time.time() if now is None else now:.3f}", secrets.token_hex(16)
    sig = key.sign(signed_string(method, target, body, ts, origin, destination, nonce)).signature
    return {
        ORIGIN: origin,
        DESTINATION: destination,
        TIMESTAMP: ts,
        NONCE: nonce,
        SIGNATURE: base64.b64encode(sig).decode(),
    }


def verify_headers(
    headers: Mapping[str, str],
    *,
    verify_key: VerifyKey,
    method: str,
    target: str,
    body: bytes,
    destination: str,
    now: float | None = None,
) -> None:
    """Raise :class:`SignatureRefused` unless the headers sign this request for us within the skew."""
    origin, ts, sig = headers.get(ORIGIN, ""), headers.get(TIMESTAMP, ""), headers.get(SIGNATURE, "")
    nonce = headers.get(NONCE, "")
    if headers.get(DESTINATION) != destination:
        raise SignatureRefused("wrong_destination", "request is addressed to another state")
    if not 0 < len(nonce) <= MAX_NONCE:
        raise SignatureRefused("bad_signature", f"{NONCE} must be 1..{MAX_NONCE} characters")
    try:
        sent = float(ts)
    except ValueError:
        raise SignatureRefused("bad_signature", "timestamp is not a number") from None
    skew = abs((time.time() if now is None else now) - sent)
    if skew > MAX_SKEW_S:
        raise SignatureRefused("clock_skew", f"timestamp is {skew:.0f} s off (limit {MAX_SKEW_S:.0f} s)")
    try:
        verify_key.verify(
            signed_string(method, target, body, ts, origin, destination, nonce),
            base64.b64decode(sig, validate=True),
        )
    except (BadSignatureError, binascii.Error, ValueError):
        raise SignatureRefused("bad_signature", f"signature does not verify with {origin}'s key") from None


# A message a user posts to a chat hosted in another state is attested by the user's home node: the
# host relays the attestation with the sequenced message, so every member state can check that the
# sender's own state sent it (the host assigns ``seq``; the Megolm ciphertext is end-to-end authenticated).
ATTESTED = ("chat_id", "id", "sender", "sender_device", "client_msg_id", "reply_to")
_ATTEST_DOMAIN = b"msgfleet.message.v1\n"


def _attested_bytes(message: Mapping[str, object]) -> bytes:
    return _ATTEST_DOMAIN + json.dumps([message.get(k) for k in ATTESTED], separators=(",", ":")).encode()


def attest(key: Signer, message: Mapping[str, object]) -> str:
    """The home node's signature (base64) over a message's ``ATTESTED`` fields."""
    return base64.b64encode(key.sign(_attested_bytes(message)).signature).decode()


def attested(verify_key: VerifyKey, message: Mapping[str, object], signature: object) -> bool:
    """Whether ``signature`` is ``attest`` of ``message`` by the owner of ``verify_key``."""
    try:
        verify_key.verify(_attested_bytes(message), base64.b64decode(str(signature), validate=True))
    except (BadSignatureError, binascii.Error, ValueError):
        return False
    return True
