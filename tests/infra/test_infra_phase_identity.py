"""Every shipped stack, phase after phase: an object present in two consecutive phases keeps its
URN (or the new one aliases the old), so ``pulumi up`` updates it instead of creating it again
(AlreadyExists) and deleting the old one (with a namespace: the whole site). Objects that hold data
are retained on delete, and protected where the stack asks."""

from __future__ import annotations

import pytest
from rendered_stacks import SHIPPED, rendered_at, shipped_phases

from infra.components import DATA_KINDS
from infra.render import RenderedManifest, Rendering
from infra.stack import load_stack_file

STEPS = [(name, phase) for name in SHIPPED for phase in shipped_phases(name)[:-1]]
ALL = [(name, phase) for name in SHIPPED for phase in shipped_phases(name)]


def _key(item: RenderedManifest) -> tuple[str | None, str]:
    """The object in the cluster: its provider (one per state) and Kind/namespace/name."""
    return item.provider, item.ident


def moved_without_alias(before: Rendering, after: Rendering) -> list[str]:
    old = {_key(m): m for m in before.manifests}
    return sorted(
        f"{new.ident}: {old[_key(new)].urn} -> {new.urn}"
        for new in after.manifests
        if _key(new) in old and new.urn != old[_key(new)].urn and old[_key(new)].urn not in new.aliases
    )


@pytest.mark.parametrize(("name", "phase"), STEPS, ids=[f"{n}-{p}to{p + 1}" for n, p in STEPS])
def test_objects_keep_their_identity_into_the_next_phase(name: str, phase: int) -> None:
    before, after = rendered_at(name, phase), rendered_at(name, phase + 1)
    assert not moved_without_alias(before, after)
    opened = set(after.outputs["sites"]) - set(before.outputs["sites"])
    assert opened, "each step opens sites, whose namespaces the reservation created"
    for state in sorted(opened):
        namespace = next(m for m in after.manifests if m.state == state and m.manifest["kind"] == "Namespace")
        old = next(m for m in before.manifests if _key(m) == _key(namespace))
        assert old.urn != namespace.urn and old.urn in namespace.aliases, f"{state}: the alias carries it"


def test_the_check_sees_a_moved_namespace_without_its_alias() -> None:
    """Without aliases the reservation's namespace would change URN: the check must say so."""
    from dataclasses import replace

    before, after = rendered_at("dev", 1), rendered_at("dev", 2)
    stripped = replace(after, manifests=tuple(replace(m, aliases=()) for m in after.manifests))
    moved = moved_without_alias(before, stripped)
    assert any(m.startswith("Namespace/msgfleet-ru-nvs") for m in moved), moved
    assert any(m.startswith("NetworkPolicy/msgfleet-ru-nvs/default-deny") for m in moved), moved


@pytest.mark.parametrize(("name", "phase"), ALL, ids=[f"{n}-{p}" for n, p in ALL])
def test_data_is_retained_and_protected_as_configured(name: str, phase: int) -> None:
    rendering = rendered_at(name, phase)
    protect = load_stack_file(name).protect
    kept = [m for m in rendering.manifests if m.manifest["kind"] in DATA_KINDS]
    assert {m.manifest["kind"] for m in kept} >= {"Namespace", "StatefulSet"}
    for item in kept:
        assert item.retain_on_delete, f"{item.ident}: retainOnDelete"
        assert item.protect == protect, f"{item.ident}: protect {item.protect}, stack says {protect}"
    for item in rendering.manifests:
        if item.manifest["kind"] == "StatefulSet":
            policy = item.manifest["spec"]["persistentVolumeClaimRetentionPolicy"]
            assert policy == {"whenDeleted": "Retain", "whenScaled": "Retain"}, item.ident
        elif item.manifest["kind"] not in DATA_KINDS:
            assert not item.protect, f"{item.ident} holds no data: protect would block its replacement"


def test_national_protects_and_dev_does_not() -> None:
    assert load_stack_file("national").protect and not load_stack_file("dev").protect
