"""What a phase change does to a stack, offline: ``msgfleet infra diff``.

Both phases are rendered under the mocks with the same generated secrets (as a stack's state keeps
them). An object is the same object in both when its URN is the same or the new one lists the old
URN among its aliases, as the engine decides. Then it is updated when its manifest differs, and
replaced when the difference touches a field the API server refuses to change in place (the
fields pulumi-kubernetes replaces on, :data:`IMMUTABLE`); objects only before are deleted (or
retained, with ``retainOnDelete``), objects only after are created.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

from infra.render import RenderedManifest, Rendering, render
from infra.stack import StackConfig

IMMUTABLE: dict[str, tuple[tuple[str, ...], ...]] = {
    # Kubernetes API validation: fields an update may not change (apps/v1, batch/v1, core/v1).
    "Deployment": (("spec", "selector"),),
    "StatefulSet": (
        ("spec", "selector"),
        ("spec", "serviceName"),
        ("spec", "volumeClaimTemplates"),
        ("spec", "podManagementPolicy"),
    ),
    "Job": (("spec", "selector"), ("spec", "template")),
    "Service": (("spec", "clusterIP"),),
    "Secret": (("type",),),
    "PriorityClass": (("value",),),
    "PersistentVolumeClaim": (("spec", "accessModes"), ("spec", "storageClassName")),
}
ACTIONS = ("create", "update", "replace", "delete", "retain")


@dataclass(frozen=True)
class Change:
    state: str
    action: str
    """``create``, ``update``, ``replace``, ``delete`` or ``retain`` (deleted from the stack, kept
    in the cluster)."""
    target: str
    """``Kind/namespace/name``."""
    fields: tuple[str, ...] = ()
    """Top-level paths that differ (``spec.replicas``), for updates and replacements."""
    protected: bool = False
    """A replacement or deletion of a ``protect``ed object: ``pulumi up`` refuses it."""


def _paths(before: Any, after: Any, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Paths (down to two levels below the spec) where ``before`` and ``after`` differ."""
    if before == after:
        return
    if isinstance(before, dict) and isinstance(after, dict) and len(prefix) < 3:
        for key in sorted(set(before) | set(after)):
            yield from _paths(before.get(key), after.get(key), (*prefix, key))
    else:
        yield prefix


def _matches(old: RenderedManifest, new: RenderedManifest) -> bool:
    return old.urn == new.urn or old.urn in new.aliases


def diff(before: Rendering, after: Rendering) -> list[Change]:
    """Every change from ``before`` to ``after``, per state and in the order of the second render."""
    olds = {m.urn: m for m in before.manifests}
    changes: list[Change] = []
    for new in after.manifests:
        old = olds.pop(new.urn, None) or next(
            (olds.pop(u) for u, m in list(olds.items()) if _matches(m, new)), None
        )
        if old is None:
            changes.append(Change(new.state, "create", new.ident))
            continue
        paths = list(_paths(old.manifest, new.manifest))
        if not paths:
            continue
        immutable = IMMUTABLE.get(new.manifest["kind"], ())
        forced = any(path[: len(field)] == field for path in paths for field in immutable)
        fields = tuple(".".join(p) for p in paths)
        action = "replace" if forced else "update"
        changes.append(Change(new.state, action, new.ident, fields, forced and old.protect))
    changes += [
        Change(m.state, "retain" if m.retain_on_delete else "delete", m.ident, protected=m.protect)
        for m in olds.values()
    ]
    return changes


def diff_phases(stack: StackConfig, from_phase: int, to_phase: int) -> list[Change]:
    """Render ``stack`` at both phases (same generated secrets) and compare them."""
    seed = secrets.token_bytes(16)
    before = render(replace(stack, phase=from_phase), seed=seed)
    after = render(replace(stack, phase=to_phase), seed=seed)
    return diff(before, after)
