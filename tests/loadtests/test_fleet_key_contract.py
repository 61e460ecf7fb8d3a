"""The fleet writes federation keys in the node's own format (the node reads them back)."""

from pathlib import Path

from loadtests.fleet import FEDERATION_KEY_FILE, federation_public_key
from messenger.federation.keys import KEY_FILE, public_key_b64, read_key


def test_fleet_key_is_read_by_the_node(tmp_path: Path) -> None:
    assert FEDERATION_KEY_FILE == KEY_FILE
    path = tmp_path / "RU-MOW" / FEDERATION_KEY_FILE
    published = federation_public_key(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert public_key_b64(read_key(path)) == published
    assert federation_public_key(path) == published, "an existing key must be kept, not replaced"
