"""The behaviour mix of simulated users, independent of Locust (unit-tested without it).

Weights and think times come from the plan's ``loadtest`` section, whose defaults follow
mattermost-load-test-ng's action weights (docs/SOURCES.md, docs/LOADTESTS.md). Cross-state
recipients follow ``loadtest.traffic_matrix`` or, when it is empty, ``demand.cross_state_share``
spread evenly over the other live states.
"""

from __future__ import annotations

import base64
import json
import os
import random
import time
from collections.abc import Collection, Mapping, Sequence

from msgfleet.schema import Plan

# Behaviours the node's API offers today, and what each needs (an OpenAPI path prefix).
NEEDS = {
    "private_send": "/v1/chats",
    "reply": "/v1/chats",
    "group_send": "/v1/chats",
    "read_sync": "/v1/chats",
    "channel_post": "/v1/channels",
    "channel_read": "/v1/channels",
    "call": "/v1/calls",
    "media_send": "/v1/media",
    "idle": "",
}
WEIGHT_SCALE = 10  # Locust task weights are integers: 6.5 → 65


def task_weights(
    weights: Mapping[str, float], api_paths: Sequence[str], implemented: Collection[str]
) -> tuple[dict[str, int], list[str]]:
    """Integer weights of the behaviours both implemented here and offered by the node's API, and
    the names of the others (skipped)."""
    supported: dict[str, int] = {}
    skipped: list[str] = []
    for name, weight in sorted(weights.items()):
        need = NEEDS.get(name)
        offered = need is not None and (not need or any(p.startswith(need) for p in api_paths))
        if not offered or name not in implemented:
            skipped.append(name)
        elif round(weight * WEIGHT_SCALE) > 0:
            supported[name] = round(weight * WEIGHT_SCALE)
    return supported, skipped


def recipient_state_weights(plan: Plan, home: str, live: Sequence[str]) -> dict[str, float]:
    """Probability of each live state being the recipient's home for a sender homed in ``home``."""
    matrix = plan.loadtest.traffic_matrix.get(home)
    if matrix:
        row = {s: w for s, w in matrix.items() if s in live}
        total = sum(row.values())
        if total > 0:
            return {s: w / total for s, w in row.items()}
    others = [s for s in live if s != home]
    if not others:
        return {home: 1.0}
    share = plan.demand.cross_state_share
    return {home: 1 - share, **{s: share / len(others) for s in others}}


def pick_state(weights: Mapping[str, float], rng: random.Random) -> str:
    states = sorted(weights)
    return rng.choices(states, weights=[weights[s] for s in states])[0]


def envelope(sender: str, size: int = 160) -> str:
    """A stand-in ciphertext (base64) carrying the send time, so the receiver can time delivery.

    The node never reads envelopes (end-to-end encryption), so this is what it stores and
    forwards; ``size`` approximates a sealed short text message.
    """
    body = json.dumps({"t": time.time(), "from": sender}).encode()
    padding = os.urandom(max(0, size - len(body) - 1))
    return base64.b64encode(body + b"\n" + padding).decode()


def sent_at(ciphertext: str) -> float | None:
    """The send time in an envelope made by :func:`envelope`, or ``None`` for anything else."""
    try:
        head = base64.b64decode(ciphertext).split(b"\n", 1)[0]
        return float(json.loads(head)["t"])
    except (ValueError, KeyError, TypeError):
        return None
