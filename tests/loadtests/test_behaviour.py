"""The behaviour mix, recipient states, stand-in ciphertexts and target parsing (no Locust needed)."""

from __future__ import annotations

import base64
import random
import time

import pytest

from loadtests.behaviour import (
    ask_for_reply,
    asked,
    fake_ciphertext,
    phone_number,
    pick_state,
    recipient_state_weights,
    sent_at,
    task_weights,
    user_seed,
)
from loadtests.config import parse_targets
from loadtests.errors import LoadTestError
from msgfleet.schema import parse_plan

PLAN = """\
name: t
country: RU
sites: [{state: RU-MOW}, {state: RU-SPE}, {state: RU-NVS}]
phases: [{name: one, start_day: 0, sites: [RU-MOW, RU-SPE, RU-NVS]}]
demand: {cross_state_share: 0.3}
"""


def test_weights_keep_what_the_node_and_the_locustfile_both_offer() -> None:
    weights = {"private_send": 6.5, "call": 0.5, "channel_post": 0.5, "idle": 25.0, "teleport": 1.0}
    paths = ["/v1/chats", "/v1/chats/{chat_id}/messages", "/v1/calls"]
    used, skipped = task_weights(weights, paths, implemented={"private_send", "call", "idle", "channel_post"})
    assert used == {"private_send": 65, "call": 5, "idle": 250}
    assert skipped == ["channel_post", "teleport"]  # no /v1/channels on the node; unknown behaviour
    used, skipped = task_weights(weights, ["/v1/chats"], implemented={"private_send", "call", "idle"})
    assert "call" in skipped and "call" not in used
    # a 'reply' weight is neither a task nor "skipped": replies follow demand.reply_ratio
    used, skipped = task_weights({"reply": 1.5, "idle": 1.0}, ["/v1/chats"], implemented={"idle"})
    assert used == {"idle": 10} and skipped == []


def test_users_are_distinct_across_workers() -> None:
    phones = {phone_number(w, n) for w in range(4) for n in range(2_000)}
    assert len(phones) == 4 * 2_000  # no two workers (or users of one) sign up the same person
    assert all(p.startswith("+79") and len(p) == 12 and p[1:].isdigit() for p in phones)
    streams = {tuple(random.Random(user_seed(1, w, 0)).random() for _ in range(3)) for w in range(4)}
    assert len(streams) == 4  # every worker's first user draws its own numbers
    assert random.Random(user_seed(1, 2, 5)).random() == random.Random(user_seed(1, 2, 5)).random()
    with pytest.raises(ValueError, match="phone plan"):
        phone_number(100, 0)


def test_replies_are_asked_for_at_the_plans_ratio() -> None:
    rng = random.Random(7)
    devices = ["me", "a", "b", "c"]
    asks = [ask_for_reply(devices, "me", 0.18, rng) for _ in range(40_000)]
    assert sum(a is not None for a in asks) / len(asks) == pytest.approx(0.18, abs=0.01)
    assert {a for a in asks if a} == {"a", "b", "c"}  # one other device, never the sender's own
    assert ask_for_reply(["me"], "me", 1.0, rng) is None
    sealed = fake_ciphertext("u1", ask="a")
    assert asked(sealed) == "a" and asked(fake_ciphertext("u1")) is None and asked("%%%") is None


def test_cross_state_share_spreads_over_the_other_states() -> None:
    plan = parse_plan(PLAN)
    live = ["RU-MOW", "RU-SPE", "RU-NVS"]
    weights = recipient_state_weights(plan, "RU-MOW", live)
    assert weights == pytest.approx({"RU-MOW": 0.7, "RU-SPE": 0.15, "RU-NVS": 0.15})
    assert recipient_state_weights(plan, "RU-MOW", ["RU-MOW"]) == {"RU-MOW": 1.0}
    rng = random.Random(3)
    picks = [pick_state(weights, rng) for _ in range(20_000)]
    assert picks.count("RU-MOW") / len(picks) == pytest.approx(0.7, abs=0.02)


def test_an_explicit_traffic_matrix_wins() -> None:
    plan = parse_plan(PLAN + "loadtest: {traffic_matrix: {RU-MOW: {RU-MOW: 1, RU-NVS: 3}}}\n")
    weights = recipient_state_weights(plan, "RU-MOW", ["RU-MOW", "RU-SPE", "RU-NVS"])
    assert weights == pytest.approx({"RU-MOW": 0.25, "RU-NVS": 0.75})


def test_fake_ciphertexts_carry_their_send_time() -> None:
    sealed = fake_ciphertext("u1@RU-MOW", size=200)
    assert sent_at(sealed) == pytest.approx(time.time(), abs=5)
    assert len(base64.b64decode(sealed)) == 200
    assert sent_at("bm90IGpzb24=") is None and sent_at("%%%") is None


def test_targets() -> None:
    assert parse_targets("RU-MOW=http://127.0.0.1:1/,RU-SPE=http://127.0.0.1:2") == {
        "RU-MOW": "http://127.0.0.1:1",
        "RU-SPE": "http://127.0.0.1:2",
    }
    assert parse_targets(["http://127.0.0.1:9"]) == {"node": "http://127.0.0.1:9"}
    with pytest.raises(LoadTestError, match="ftp://x"):
        parse_targets(["RU-MOW=ftp://x"])
