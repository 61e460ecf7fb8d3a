"""A device's state on disk for ``msgfleet-client``: node URL, token, ids, event cursor and private keys.

One JSON file, ``<profile dir>/device.json``, written atomically with mode 0600 in a 0700 directory. The
keys (the Olm account, Olm sessions and Megolm room keys) are kept as the client's own encrypted pickle
(``DeviceCrypto.pickle``) under a random key stored in the same file: what protects the profile is its
file mode, as for an SSH key without a passphrase.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from messenger.client.client import MessengerClient
from messenger.client.crypto import DecryptError, DeviceCrypto

FILE = "device.json"


class ProfileError(Exception):
    """No profile, or one that cannot be read."""


@dataclass(frozen=True)
class Profile:
    dir: Path

    @property
    def path(self) -> Path:
        return self.dir / FILE

    def save(self, client: MessengerClient) -> None:
        key = secrets.token_bytes(32)
        state: dict[str, Any] = {
            "node": client.base_url,
            "phone": client.phone,
            "user_id": client.user_id,
            "device_id": client.device_id,
            "token": client.token,
            "cursor": client.cursor,
            "pickle_key": key.hex(),
            "keys": client.crypto.pickle(key),
        }
        self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = self.dir / f".{FILE}.{secrets.token_hex(4)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(state, out)
        os.replace(tmp, self.path)

    def load(self) -> MessengerClient:
        """The logged-in client of this profile (its HTTP connection open: close it)."""
        try:
            state = json.loads(self.path.read_text())
            keys = DeviceCrypto.from_pickle(state["keys"], bytes.fromhex(state["pickle_key"]))
            client = MessengerClient(
                state["node"],
                token=state["token"],
                user_id=state["user_id"],
                device_id=state["device_id"],
                keys=keys,
            )
        except FileNotFoundError:
            raise ProfileError(f"{self.path}: not logged in (run `login` first)") from None
        except (OSError, ValueError, KeyError, TypeError, DecryptError) as exc:
            raise ProfileError(f"{self.path}: unreadable profile ({exc})") from None
        client.phone, client.cursor = state.get("phone"), int(state.get("cursor") or 0)
        return client
