"""The local fleet's peer wiring (``loadtests.fleet.wire_peers``) gives every node a key and a peers
file this node reads: each sees the others with the public key of their key file."""

from __future__ import annotations

from pathlib import Path

from loadtests.fleet import wire_peers
from messenger.federation.keys import KEY_FILE, load_or_create
from messenger.federation.peers import load_config


def test_fleet_peers_file_is_what_nodes_load(tmp_path: Path) -> None:
    urls = {
        "RU-MOW": "http://127.0.0.1:8001",
        "RU-SPE": "http://127.0.0.1:8002",
        "RU-NVS": "http://127.0.0.1:8003",
    }
    args = wire_peers(tmp_path, urls)
    for state in urls:
        assert args[state][:2] == ["--peers", str(tmp_path / "peers.json")]
        assert args[state][args[state].index("--base-url") + 1] == urls[state]
        config = load_config(state, tmp_path / "peers.json")
        assert sorted(config.peers) == sorted(set(urls) - {state})
        for other, peer in config.peers.items():
            key = load_or_create(tmp_path / other / KEY_FILE)  # the node's own key, as it will load it
            assert peer.url == urls[other]
            assert bytes(peer.verify_key) == bytes(key.verify_key)
