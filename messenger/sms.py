"""SMS senders. The default writes each code to ``<data_dir>/sms.jsonl`` (tests, demo, dev); the log line it
writes names neither the number nor the code (logs outlive accounts, docs/SECURITY.md)."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Protocol

log = logging.getLogger("messenger.sms")


class SmsSender(Protocol):
    """Anything that can deliver a login code to a phone number (a real gateway plugs in here)."""

    async def send_code(self, phone: str, code: str) -> None: ...


class FileSmsSender:
    """Appends ``{"ts", "phone", "code"}`` lines to a JSONL file (short appends are atomic)."""

    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)

    async def send_code(self, phone: str, code: str) -> None:
        line = json.dumps({"ts": time.time(), "phone": phone, "code": code}) + "\n"
        with self.path.open("a", encoding="utf-8") as sink:
            sink.write(line)
        log.info("login code sent", extra={"sink": str(self.path)})


def last_code(path: Path, phone: str) -> str | None:
    """The most recent code written to the sink ``path`` for ``phone`` (None if there is none)."""
    if not path.exists():
        return None
    code = None
    with path.open(encoding="utf-8") as sink:
        for line in sink:
            record = json.loads(line)
            if record["phone"] == phone:
                code = record["code"]
    return code
