"""Pulumi mocks that record every registered resource (``msgfleet infra render`` and the tests).

Generated secrets get real random values (``secrets``), so a rendered Secret is usable with
``kubectl apply`` as a fallback; everything else echoes its inputs, as a cluster would.
"""

from __future__ import annotations

import base64
import secrets
import string
from dataclasses import dataclass
from typing import Any

from pulumi.runtime import MockCallArgs, MockResourceArgs, Mocks

_SECRET_SIG = "4dabf18193072939515e22adb298388d"  # Pulumi's wire signature of a secret value
_ALPHABET = string.ascii_letters + string.digits


@dataclass(frozen=True)
class Recorded:
    """One resource as the engine saw it: its type token, logical name, provider and inputs."""

    typ: str
    name: str
    provider: str | None
    inputs: dict[str, Any]


def plain(value: Any) -> Any:
    """Inputs as JSON-like data: secrets unwrapped, integral floats (the wire's numbers) as ints."""
    if isinstance(value, dict):
        if _SECRET_SIG in value:
            return plain(value.get("value"))
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


class RecordingMocks(Mocks):
    def __init__(self) -> None:
        self.resources: list[Recorded] = []

    def new_resource(self, args: MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        inputs = plain(args.inputs)
        self.resources.append(Recorded(args.typ, args.name, args.provider, inputs))
        outputs = dict(inputs)
        if args.typ == "random:index/randomBytes:RandomBytes":
            raw = secrets.token_bytes(int(inputs["length"]))
            outputs.update(base64=base64.b64encode(raw).decode(), hex=raw.hex())
        elif args.typ == "random:index/randomPassword:RandomPassword":
            outputs["result"] = "".join(secrets.choice(_ALPHABET) for _ in range(int(inputs["length"])))
        return f"{args.name}-id", outputs

    def call(self, args: MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        return {}, None
