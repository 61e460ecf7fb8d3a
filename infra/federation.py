"""Which sites federate with which (the residency policy), and their Ed25519 identities."""

from __future__ import annotations

import base64

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from msgfleet.schema import Plan


def allowed_peers(plan: Plan, phase: int, state: str) -> list[str]:
    """States ``state`` may exchange federation traffic with during ``phase``, in plan order.

    Only live sites federate: a state of a later phase (even one with reserved capacity) holds no
    users yet and must receive none of their data. Under ``home_state`` residency a site keeps only
    its own users' data and talks to every other live site for cross-state conversations; under
    ``national`` residency the same peers apply (any live site may then store any user's data).
    """
    live = plan.live_sites(phase)
    if state not in live:
        return []
    return [other for other in live if other != state]


def public_key(seed_b64: str) -> str:
    """The base64 raw Ed25519 public key of a base64 32-byte seed (the node's ``MSGFLEET_FEDERATION_KEY``)."""
    seed = base64.b64decode(seed_b64)
    key = Ed25519PrivateKey.from_private_bytes(seed).public_key()
    return base64.b64encode(key.public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()
