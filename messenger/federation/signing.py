"""Signed server-to-server requests.

The signature (Ed25519) covers ``METHOD \\n PATH?QUERY \\n sha256(body) hex \\n timestamp \\n origin \\n
destination``: a captured request cannot be replayed to another node, another path or with another body,
and is refused once its timestamp is more than ``MAX_SKEW_S`` away from the receiver's clock.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
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


class SignatureRefused(Exception):
    """Why a request's signature headers are not acceptable: ``reason`` is the API error code."""

    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason, self.detail = reason, detail


def signed_string(method: str, target: str, body: bytes, ts: str, origin: str, destination: str) -> bytes:
    digest = hashlib.sha256(body).hexdigest()
    return "\n".join((method.upper(), target, digest, ts, origin, destination)).encode()


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
    ts = f"{time.time() if now is None else now:.3f}"
    sig = key.sign(signed_string(method, target, body, ts, origin, destination)).signature
    return {
        ORIGIN: origin,
        DESTINATION: destination,
        TIMESTAMP: ts,
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
    if headers.get(DESTINATION) != destination:
        raise SignatureRefused("wrong_destination", f"request is addressed to {headers.get(DESTINATION)!r}")
    try:
        sent = float(ts)
    except ValueError:
        raise SignatureRefused("bad_signature", f"timestamp {ts!r} is not a number") from None
    skew = abs((time.time() if now is None else now) - sent)
    if skew > MAX_SKEW_S:
        raise SignatureRefused("clock_skew", f"timestamp is {skew:.0f} s off (limit {MAX_SKEW_S:.0f} s)")
    try:
        verify_key.verify(
            signed_string(method, target, body, ts, origin, destination), base64.b64decode(sig, validate=True)
        )
    except (BadSignatureError, binascii.Error, ValueError):
        raise SignatureRefused("bad_signature", f"signature does not verify with {origin}'s key") from None
