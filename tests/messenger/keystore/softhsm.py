"""A SoftHSM2 token of a test's own: ``softhsm2-util`` in a temp dir, found through SOFTHSM2_CONF."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

# Where Debian's libsofthsm2 installs the module (package softhsm2, .ci/apt-packages).
MODULES = ("/usr/lib/softhsm/libsofthsm2.so", "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so")


@dataclass(frozen=True)
class Token:
    module: str
    label: str
    pin: str
    conf: Path

    def env(self) -> dict[str, str]:
        """What a node (or a CLI command) needs to use this token."""
        return {
            "SOFTHSM2_CONF": str(self.conf),
            "MSGFLEET_KEYSTORE": "pkcs11",
            "MSGFLEET_KEYSTORE_PKCS11_MODULE": self.module,
            "MSGFLEET_KEYSTORE_PKCS11_TOKEN": self.label,
            "MSGFLEET_KEYSTORE_PKCS11_PIN": self.pin,
        }


def make_token(root: Path) -> Token:
    module = next((m for m in MODULES if Path(m).exists()), None)
    util = shutil.which("softhsm2-util")
    assert module and util, "SoftHSM2 is missing: apt-get install softhsm2 (.ci/apt-packages)"
    (root / "tokens").mkdir(parents=True)
    conf = root / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {root / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n"
    )
    token = Token(module, "msgfleet-test", "4321", conf)
    cmd = [util, "--init-token", "--free", "--label", token.label, "--pin", token.pin, "--so-pin", "87654321"]
    subprocess.run(cmd, check=True, capture_output=True, env={"SOFTHSM2_CONF": str(conf)}, timeout=60)
    return token
