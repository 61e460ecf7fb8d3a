"""Peers (state id, base URL, public key) and the per-state policy, from the ``--peers`` file.

Peers are configured by the operator, never discovered from clients. The file is YAML or JSON::

    peers:
      - {state: RU-SPE, url: "http://127.0.0.1:8081", public_key: "<base64 Ed25519>"}
    policy:                      # per state: whom that state's node refuses to federate with
      RU-MOW: {forbid_federation_with: [US-CA]}

A bare list of peers is accepted too. The entry for the node's own state is skipped, so one file can
wire a whole fleet.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from nacl.signing import VerifyKey

from messenger.errors import MessengerConfigError
from messenger.federation.keys import parse_public_key
from messenger.states import validate_state_id


@dataclass(frozen=True)
class Peer:
    state: str
    url: str
    verify_key: VerifyKey


@dataclass(frozen=True)
class FederationConfig:
    """Who this node talks to, and whom its state forbids."""

    state: str
    peers: dict[str, Peer] = field(default_factory=dict)
    forbidden: frozenset[str] = frozenset()

    def allowed(self, state: str) -> bool:
        return state not in self.forbidden


def load_config(state: str, path: Path | None) -> FederationConfig:
    """The config of node ``state`` from ``path`` (no peers without a file)."""
    if path is None:
        return FederationConfig(state)
    try:
        doc: Any = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise MessengerConfigError(f"{path}: cannot read peers file: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        problem = getattr(exc, "problem", None) or "not YAML"
        raise MessengerConfigError(f"{where}: cannot read peers file: {problem}") from None
    if isinstance(doc, list):
        doc = {"peers": doc}
    if not isinstance(doc, dict):
        raise MessengerConfigError(f"{path}: expected a mapping with 'peers' (and optional 'policy')")
    try:
        peers = _peers(state, doc.get("peers") or [])
        forbidden = _forbidden(state, doc.get("policy") or {})
    except (ValueError, TypeError, KeyError) as exc:
        raise MessengerConfigError(f"{path}: {exc}") from None
    return FederationConfig(state, peers, forbidden)


def _peers(own: str, items: Any) -> dict[str, Peer]:
    if not isinstance(items, list):
        raise ValueError("peers must be a list")
    out: dict[str, Peer] = {}
    for i, item in enumerate(items):
        where = f"peers[{i}]"
        if not isinstance(item, dict):
            raise ValueError(f"{where}: expected a mapping with state, url, public_key")
        try:
            state = validate_state_id(str(item["state"]))
        except KeyError:
            raise ValueError(f"{where}: state is missing") from None
        except ValueError as exc:
            raise ValueError(f"{where}.state: {exc}") from None
        if state == own:
            continue
        url = str(item.get("url") or "")
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"{where}.url: {url!r} must start with http:// or https://")
        if "public_key" not in item:
            raise ValueError(f"{where}.public_key is missing")
        out[state] = Peer(state, url.rstrip("/"), parse_public_key(str(item["public_key"]), where))
    return out


def _forbidden(own: str, policy: Any) -> frozenset[str]:
    if not isinstance(policy, dict):
        raise ValueError("policy must map state ids to {forbid_federation_with: [...]}")
    mine = policy.get(own) or {}
    states = mine.get("forbid_federation_with") or []
    if not isinstance(states, list):
        raise ValueError(f"policy.{own}.forbid_federation_with must be a list of state ids")
    try:
        return frozenset(validate_state_id(str(s)) for s in states)
    except ValueError as exc:
        raise ValueError(f"policy.{own}.forbid_federation_with: {exc}") from None
