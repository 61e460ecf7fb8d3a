"""Run the Pulumi program under mocks and write every resource's manifest as YAML, per site.

No Pulumi CLI, no cluster: :class:`infra.mocks.RecordingMocks` stands in for the engine. Each
manifest is schema-validated for the plan's Kubernetes version and checked by every policy.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from infra import labels
from infra.errors import InfraError
from infra.mocks import Recorded, RecordingMocks, RecordingMonitor
from infra.policy import POLICIES, Violation, ident
from infra.stack import PROJECT, StackConfig
from infra.validate import SchemaCheck, check_schema
from msgfleet.schema import Plan

# kubectl apply -f DIR applies files in name order: namespaces and cluster objects first.
_ORDER = ["Namespace", "PriorityClass", "NetworkPolicy", "ResourceQuota", "Secret", "ConfigMap"]


@dataclass(frozen=True)
class RenderedManifest:
    """A Kubernetes resource the program registered: its logical name, provider and manifest."""

    name: str
    typ: str
    provider: str | None
    manifest: dict[str, Any]
    urn: str = ""
    aliases: tuple[str, ...] = ()
    protect: bool = False
    retain_on_delete: bool = False

    @property
    def state(self) -> str:
        return str(self.manifest["metadata"]["labels"][labels.STATE])

    @property
    def ident(self) -> str:
        return ident(self.manifest)

    @property
    def filename(self) -> str:
        kind = self.manifest["kind"]
        order = _ORDER.index(kind) if kind in _ORDER else len(_ORDER)
        return f"{order:02d}-{kind.lower()}-{self.manifest['metadata']['name']}.yaml"

    @property
    def path(self) -> str:
        """Where it is written, relative to the output folder (one folder per site)."""
        return f"{self.state}/{self.filename}"


@dataclass(frozen=True)
class Rendering:
    stack: StackConfig
    plan: Plan
    manifests: tuple[RenderedManifest, ...]
    others: tuple[Recorded, ...]
    """Providers, components and generated values (no manifest of their own)."""
    outputs: dict[str, Any]
    schema: dict[str, SchemaCheck] = field(default_factory=dict)
    violations: tuple[Violation, ...] = ()

    def by_state(self) -> dict[str, list[RenderedManifest]]:
        result: dict[str, list[RenderedManifest]] = {}
        for item in self.manifests:
            result.setdefault(item.state, []).append(item)
        return result

    def failures(self) -> list[str]:
        """One line per schema failure or policy violation (empty: all good)."""
        lines = [
            f"{path}: schema {check.version}: {check.error}"
            for path, check in self.schema.items()
            if check.error
        ]
        path_of = {item.ident: item.path for item in self.manifests}
        return lines + [
            f"{path_of.get(v.target, v.target)}: policy {v.policy}: {v.target}: {v.message}"
            for v in self.violations
        ]


def run_program(
    plan: Plan, stack: StackConfig, seed: bytes | None = None
) -> tuple[list[Recorded], dict[str, Any]]:
    """Run :func:`infra.program.provision` under mocks; return what it registered and its outputs."""
    import pulumi

    from infra.program import provision

    mocks = RecordingMocks(seed)
    # Pulumi's mocks register the root stack on the current event loop; a caller that already ran
    # asyncio.run() (the demo) has none left, so give this thread a fresh one.
    asyncio.set_event_loop(asyncio.new_event_loop())
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack.stack, preview=False, monitor=monitor)
    resolved: dict[str, Any] = {}

    @pulumi.runtime.test
    def program() -> pulumi.Output[None]:
        return pulumi.Output.from_input(provision(plan, stack)).apply(resolved.update)

    program()
    return mocks.resources, resolved


def render(stack: StackConfig, plan: Plan | None = None, seed: bytes | None = None) -> Rendering:
    """Render ``stack`` (its plan file unless ``plan`` is given), validate and check it.

    ``seed``: generated secrets derived from it (see :class:`infra.mocks.RecordingMocks`)."""
    from infra.program import deployed

    plan = plan or stack.load_plan()
    recorded, outputs = run_program(plan, stack, seed)
    plan = deployed(plan, stack)
    manifests = tuple(
        RenderedManifest(r.name, r.typ, r.provider, r.inputs, r.urn, r.aliases, r.protect, r.retain_on_delete)
        for r in recorded
        if r.typ.startswith("kubernetes:") and "kind" in r.inputs
    )
    others = tuple(r for r in recorded if not (r.typ.startswith("kubernetes:") and "kind" in r.inputs))
    version = plan.infra.kubernetes_version
    schema = {m.path: check_schema(m.manifest, version) for m in manifests}
    bodies = [m.manifest for m in manifests]
    violations = tuple(v for policy in POLICIES.values() for v in policy(bodies))
    return Rendering(stack, plan, manifests, others, outputs, schema, violations)


def _ordered(manifest: dict[str, Any]) -> dict[str, Any]:
    """apiVersion, kind and metadata first, as people write manifests."""
    head = ("apiVersion", "kind", "metadata")
    return {
        **{k: manifest[k] for k in head if k in manifest},
        **{k: v for k, v in manifest.items() if k not in head},
    }


def write(rendering: Rendering, out: Path) -> list[Path]:
    """Write one YAML file per manifest under ``out/<STATE>/`` and ``out/outputs.json``."""
    written = []
    for item in rendering.manifests:
        path = out / item.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(_ordered(item.manifest), sort_keys=False), encoding="utf-8")
        if item.manifest["kind"] == "Secret":
            path.chmod(0o600)
        written.append(path)
    summary = out / "outputs.json"
    summary.write_text(json.dumps(rendering.outputs, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return [*written, summary]


def render_to(stack: StackConfig, out: Path, plan: Plan | None = None) -> Rendering:
    """Render, write, and raise :class:`InfraError` (one line) if anything fails a check."""
    rendering = render(stack, plan)
    write(rendering, out)
    failures = rendering.failures()
    if failures:
        more = f" (and {len(failures) - 1} more; all in {out})" if len(failures) > 1 else ""
        raise InfraError(f"{out / failures[0]}{more}")
    return rendering
