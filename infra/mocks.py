"""Pulumi mocks that record every registered resource (``msgfleet infra render`` and the tests).

Generated secrets get real random values (``secrets``), so a rendered Secret is usable with
``kubectl apply`` as a fallback; everything else echoes its inputs, as a cluster would.

:class:`RecordingMonitor` also records what the engine would key state on: each resource's URN
(built as the engine builds it, with the parent's whole type chain, which Pulumi's own mock monitor
shortens to the last type), its aliases resolved to URNs, and ``protect`` / ``retainOnDelete``.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import string
import threading
from dataclasses import dataclass
from typing import Any

from pulumi.runtime import MockCallArgs, MockResourceArgs, Mocks
from pulumi.runtime.mocks import MockMonitor

_SECRET_SIG = "4dabf18193072939515e22adb298388d"  # Pulumi's wire signature of a secret value
_ALPHABET = string.ascii_letters + string.digits


@dataclass(frozen=True)
class Recorded:
    """One resource as the engine saw it: its type token, logical name, provider and inputs."""

    typ: str
    name: str
    provider: str | None
    inputs: dict[str, Any]
    urn: str = ""
    aliases: tuple[str, ...] = ()
    protect: bool = False
    retain_on_delete: bool = False


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
    """``seed`` makes generated values a function of the resource's name (two renders compared by
    ``msgfleet infra diff`` then agree, as a real stack's state keeps them); without it they are
    fresh random values."""

    def __init__(self, seed: bytes | None = None) -> None:
        self.seed = seed
        self.resources: list[Recorded] = []
        self.pending = threading.local()
        """What :class:`RecordingMonitor` knows of the resource being registered on this thread."""

    def new_resource(self, args: MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        inputs = plain(args.inputs)
        extra = getattr(self.pending, "extra", {})
        self.resources.append(Recorded(args.typ, args.name, args.provider, inputs, **extra))
        outputs = dict(inputs)
        if args.typ == "random:index/randomBytes:RandomBytes":
            raw = self._bytes(args.name, int(inputs["length"]))
            outputs.update(base64=base64.b64encode(raw).decode(), hex=raw.hex())
        elif args.typ == "random:index/randomPassword:RandomPassword":
            length = int(inputs["length"])
            if self.seed is None:
                outputs["result"] = "".join(secrets.choice(_ALPHABET) for _ in range(length))
            else:  # only compared, never deployed: a slight modulo bias does not matter
                outputs["result"] = "".join(
                    _ALPHABET[b % len(_ALPHABET)] for b in self._bytes(args.name, length)
                )
        return f"{args.name}-id", outputs

    def _bytes(self, name: str, length: int) -> bytes:
        if self.seed is None:
            return secrets.token_bytes(length)
        return hashlib.shake_256(self.seed + name.encode()).digest(length)

    def call(self, args: MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        return {}, None


ROOT_STACK = "pulumi:pulumi:Stack"


def make_urn(stack: str, project: str, parent: str, typ: str, name: str) -> str:
    """A resource's URN as the engine builds it: the parent's qualified type chain (the root stack
    left out), ``$``, the resource's type."""
    if parent:
        qualified = parent.split("::")[2]
        if qualified != ROOT_STACK:
            typ = f"{qualified}${typ}"
    return f"urn:pulumi:{stack}::{project}::{typ}::{name}"


class RecordingMonitor(MockMonitor):
    """Pulumi's mock monitor with engine URNs, recording aliases and data-keeping options."""

    def __init__(self, mocks: RecordingMocks) -> None:
        super().__init__(mocks)
        self.recording = mocks

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        from pulumi import get_project, get_stack

        return make_urn(get_stack(), get_project(), parent, type_, name)

    def _alias_urns(self, request: Any) -> tuple[str, ...]:
        from pulumi import get_project, get_stack

        urns = []
        for alias in request.aliases:
            if alias.urn:
                urns.append(alias.urn)
                continue
            spec = alias.spec
            parent = "" if spec.noParent else (spec.parentUrn or request.parent)
            urns.append(
                make_urn(
                    spec.stack or get_stack(),
                    spec.project or get_project(),
                    parent,
                    spec.type or request.type,
                    spec.name or request.name,
                )
            )
        return tuple(urns)

    def RegisterResource(self, request: Any) -> Any:  # the gRPC method's name
        # new_resource runs in this thread, inside the base method: hand it what it cannot see.
        self.recording.pending.extra = {
            "urn": self.make_urn(request.parent, request.type, request.name),
            "aliases": self._alias_urns(request),
            "protect": bool(request.protect),
            "retain_on_delete": bool(request.retainOnDelete),
        }
        try:
            return super().RegisterResource(request)
        finally:
            self.recording.pending.extra = {}
