"""The signing rule, the peers file and the backoff schedule, without a node."""

from __future__ import annotations

import random
from pathlib import Path
from types import SimpleNamespace

import pytest
from nacl.signing import SigningKey

from messenger.errors import MessengerConfigError
from messenger.federation.keys import load_or_create, public_key_b64, read_key
from messenger.federation.peers import load_config
from messenger.federation.sender import Backoff, Sender
from messenger.federation.signing import MAX_SKEW_S, SignatureRefused, sign_headers, verify_headers

KEY = SigningKey(bytes(range(32)))
SIGNED = {"method": "PUT", "target": "/_federation/v1/send/t1", "body": b'{"pdus":[]}'}


def _verify(headers: dict[str, str], **changes: object) -> None:
    args = {**SIGNED, "verify_key": KEY.verify_key, "destination": "RU-SPE", "now": 1000.0, **changes}
    verify_headers(headers, **args)  # type: ignore[arg-type]


def test_signature_covers_method_path_body_time_origin_and_destination() -> None:
    headers = sign_headers(KEY, **SIGNED, origin="RU-MOW", destination="RU-SPE", now=1000.0)  # type: ignore[arg-type]
    _verify(headers)
    for change, reason in [
        ({"method": "POST"}, "bad_signature"),
        ({"target": "/_federation/v1/send/t2"}, "bad_signature"),
        ({"body": b'{"pdus":[{}]}'}, "bad_signature"),
        ({"destination": "RU-NVS"}, "wrong_destination"),
        ({"verify_key": SigningKey.generate().verify_key}, "bad_signature"),
        ({"now": 1000.0 + MAX_SKEW_S + 1}, "clock_skew"),
        ({"now": 1000.0 - MAX_SKEW_S - 1}, "clock_skew"),
    ]:
        with pytest.raises(SignatureRefused) as err:
            _verify(headers, **change)
        assert err.value.reason == reason, change
    _verify(headers, now=1000.0 + MAX_SKEW_S - 1)  # inside the window
    forged = {**headers, "X-Msgfleet-Origin": "RU-NVS"}
    with pytest.raises(SignatureRefused):
        _verify(forged)


def test_key_file_is_created_once_and_reread(tmp_path: Path) -> None:
    path = tmp_path / "node" / "federation.key"
    first = load_or_create(path)
    assert public_key_b64(load_or_create(path)) == public_key_b64(first)
    assert path.stat().st_mode & 0o777 == 0o600
    path.write_text("not base64!\n")
    with pytest.raises(MessengerConfigError, match=r"federation\.key"):
        read_key(path)


def test_peers_file_skips_own_state_and_reads_policy(tmp_path: Path) -> None:
    peers = tmp_path / "peers.yaml"
    key = public_key_b64(KEY)
    peers.write_text(
        f"peers:\n  - {{state: RU-MOW, url: 'http://a', public_key: {key}}}\n"
        f"  - {{state: RU-SPE, url: 'http://b/', public_key: {key}}}\n"
        "policy:\n  RU-MOW: {forbid_federation_with: [US-CA]}\n  RU-SPE: {forbid_federation_with: [RU-MOW]}\n"
    )
    config = load_config("RU-MOW", peers)
    assert list(config.peers) == ["RU-SPE"] and config.peers["RU-SPE"].url == "http://b"
    assert not config.allowed("US-CA") and config.allowed("RU-SPE")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("peers: {a: 1}", "peers must be a list"),
        ("peers:\n  - {state: RU-XXX, url: 'http://a', public_key: x}", r"peers\[0\].state"),
        ("peers:\n  - {state: RU-SPE, url: 'ftp://a', public_key: x}", r"peers\[0\].url"),
        ("peers:\n  - {state: RU-SPE, url: 'http://a', public_key: 'abc'}", r"peers\[0\]: public_key"),
        ("peers: []\npolicy:\n  RU-MOW: {forbid_federation_with: [MOSCOW]}", "forbid_federation_with"),
        ("peers: [", "cannot read peers file"),
    ],
)
def test_bad_peers_file_is_one_line_naming_file_and_field(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "peers.yaml"
    path.write_text(text)
    with pytest.raises(MessengerConfigError, match=message) as err:
        load_config("RU-MOW", path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_backoff_grows_exponentially_with_jitter_up_to_the_cap() -> None:
    backoff, rng = Backoff(base_s=0.25, cap_s=30.0), random.Random(7)
    for failures in range(1, 12):
        ceiling = min(30.0, 0.25 * 2 ** (failures - 1))
        delays = [backoff.delay(failures, rng) for _ in range(50)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays), failures


def test_transactions_stay_under_the_peer_body_limit() -> None:
    sender = Sender(sessions=None, client=None, max_bytes=1000)  # type: ignore[arg-type]
    rows = [SimpleNamespace(id=i, pdu="x" * 300) for i in range(10)]
    assert [r.id for r in sender._fit(rows)] == [0, 1, 2]
    huge = [SimpleNamespace(id=0, pdu="x" * 5000), *rows]
    assert [r.id for r in sender._fit(huge)] == [0]  # one oversized item still goes alone
