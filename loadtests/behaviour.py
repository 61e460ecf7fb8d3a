"""The behaviour mix of simulated users, independent of Locust (unit-tested without it).

Weights and think times come from the plan's ``loadtest`` section, whose defaults follow
mattermost-load-test-ng's action weights (docs/SOURCES.md, docs/LOADTESTS.md). Cross-state
recipients follow ``loadtest.traffic_matrix`` or, when it is empty, ``demand.cross_state_share``
spread evenly over the other live states.

Replies are not a weighted behaviour: the reply ratio has one definition, the schema's
``demand.reply_ratio`` ("replies per received message", sizing's (1 + r) × first messages). The
sender of a first message asks one recipient device for a reply with probability r (the ask rides
in the ciphertext), and that device replies after a think time; replies are never asked for. So the
load generates r replies per first message, which the node's counters measure as
``replies_stored / (messages_stored - replies_stored)``.
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
    "group_send": "/v1/chats",
    "read_sync": "/v1/chats",
    "channel_post": "/v1/channels",
    "channel_read": "/v1/channels",
    "call": "/v1/calls",
    "media_send": "/v1/media",
    "idle": "",
}
WEIGHT_SCALE = 10  # Locust task weights are integers: 6.5 → 65
BY_RATIO = "reply"  # a weight name older plans carry: replies follow demand.reply_ratio instead
PHONES_PER_WORKER = 10**7  # +79 WW NNNNNNN: two digits of worker index, seven of user serial


def task_weights(
    weights: Mapping[str, float], api_paths: Sequence[str], implemented: Collection[str]
) -> tuple[dict[str, int], list[str]]:
    """Integer weights of the behaviours both implemented here and offered by the node's API, and
    the names of the others (skipped)."""
    supported: dict[str, int] = {}
    skipped: list[str] = []
    for name, weight in sorted(weights.items()):
        if name == BY_RATIO:
            continue
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


def phone_number(worker: int, serial: int) -> str:
    """The phone of a process's ``serial``-th user: distinct across Locust workers by construction
    (each worker index owns its own range), so two workers never sign up the same person."""
    if not 0 <= worker < 100 or not 0 <= serial < PHONES_PER_WORKER:
        raise ValueError(f"worker {worker} / user {serial} outside the phone plan (+79 WW NNNNNNN)")
    return f"+79{worker:02d}{serial:07d}"


def user_seed(seed: int, worker: int, serial: int) -> str:
    """The seed of one simulated user: the run's seed, its worker and its serial (``random.Random``
    hashes a string seed deterministically, so runs repeat and no two workers share a stream)."""
    return f"{seed}:{worker}:{serial}"


def ask_for_reply(devices: Sequence[str], own: str, reply_ratio: float, rng: random.Random) -> str | None:
    """The recipient device asked to reply to a first message (probability ``reply_ratio``), or ``None``."""
    others = [d for d in devices if d != own]
    if not others or rng.random() >= reply_ratio:
        return None
    return rng.choice(others)


FAKE_SESSION = "load" + "A" * 39  # as long as a Megolm session id (base64 of 32 bytes)


def fake_ciphertext(sender: str, size: int = 160, ask: str | None = None) -> str:
    """A stand-in Megolm ciphertext (base64) carrying the send time, so the receiver can time delivery,
    and the device asked to reply (if any).

    The node never opens a ciphertext (end-to-end encryption), so this is what it stores and forwards;
    ``size`` approximates the Megolm ciphertext of a short text message. Simulated devices do not run
    real Olm/Megolm (vodozemac): one load generator plays thousands of devices, and encrypting, key
    sharing and to-device traffic per message would make it, not the node, the bottleneck. The node's
    side of a send is the same (one opaque ciphertext and a session id per message).
    """
    head = {"t": time.time(), "from": sender, **({"ask": ask} if ask else {})}
    body = json.dumps(head).encode()
    padding = os.urandom(max(0, size - len(body) - 1))
    return base64.b64encode(body + b"\n" + padding).decode()


def _head(ciphertext: str) -> dict[str, object]:
    try:
        head = json.loads(base64.b64decode(ciphertext).split(b"\n", 1)[0])
    except (ValueError, TypeError):
        return {}
    return head if isinstance(head, dict) else {}


def sent_at(ciphertext: str) -> float | None:
    """The send time in a ciphertext made by :func:`fake_ciphertext`, or ``None`` for anything else."""
    try:
        return float(_head(ciphertext)["t"])  # type: ignore[arg-type]
    except (KeyError, TypeError, ValueError):
        return None


def asked(ciphertext: str) -> str | None:
    """The device a ciphertext made by :func:`fake_ciphertext` asks to reply, or ``None``."""
    ask = _head(ciphertext).get("ask")
    return ask if isinstance(ask, str) else None
