"""Per-site resource sets are complete: every live site has its whole stack, every next-phase site
its reservation, and the scenarios together exercise every builder branch."""

from __future__ import annotations

import pytest
from rendered_stacks import STACKS, rendered

from infra import labels
from infra.render import Rendering

COMPONENTS = ["MessengerNode", "SiteEdge", "SiteNetwork", "SiteSecrets", "SiteStores", "TurnRelay"]


def _kinds(rendering: Rendering, state: str) -> set[tuple[str, str]]:
    return {(m.manifest["kind"], m.manifest["metadata"]["name"]) for m in rendering.by_state()[state]}


def _expected_live(rendering: Rendering, state: str) -> set[tuple[str, str]]:
    infra = rendering.plan.infra
    expected = {
        ("Namespace", labels.namespace(state)),
        ("NetworkPolicy", "default-deny"),
        ("NetworkPolicy", "allow-dns"),
        ("NetworkPolicy", "node-ingress"),
        ("NetworkPolicy", "node-egress"),
        ("Secret", "node-secrets"),
        ("Secret", "turn-secret"),
        ("ConfigMap", "node-config"),
        ("Deployment", "node"),
        ("Service", "node"),
        ("HorizontalPodAutoscaler", "node"),
        ("PodDisruptionBudget", "node"),
        ("Deployment", "turn"),
        ("Ingress", "node"),
        ("Ingress", "federation"),
        ("StatefulSet", "redis"),
        ("Cluster", "postgres") if infra.operators.cloudnative_pg else ("StatefulSet", "postgres"),
    }
    if infra.operators.prometheus_operator:
        expected.add(("ServiceMonitor", "node"))
    if infra.media_store == "minio":
        expected.add(("StatefulSet", "minio"))
    if rendering.outputs["sites"][state]["turn_relays"] > 1:
        expected.add(("PodDisruptionBudget", "turn"))
    if rendering.stack.turn_exposure_of(rendering.plan) != "host_network":
        expected.add(("Service", "turn"))
    return expected


def test_live_sites_are_complete(rendering: Rendering) -> None:
    plan, phase = rendering.plan, rendering.stack.phase
    for state in plan.live_sites(phase):
        missing = sorted(_expected_live(rendering, state) - _kinds(rendering, state))
        assert not missing, f"site {state} lacks {missing}"


def test_next_phase_sites_hold_a_reservation_only(rendering: Rendering) -> None:
    plan, phase = rendering.plan, rendering.stack.phase
    nxt = plan.phases[phase].sites if phase < len(plan.phases) else []
    assert set(rendering.by_state()) == {*plan.live_sites(phase), *nxt}
    for state in nxt:
        kinds = sorted(kind for kind, _ in _kinds(rendering, state))
        assert kinds == ["Deployment", "Namespace", "NetworkPolicy", "PriorityClass", "ResourceQuota"], state


def test_each_live_site_is_one_component_of_small_components(rendering: Rendering) -> None:
    components = {(r.typ, r.name) for r in rendering.others}
    for state in rendering.plan.live_sites(rendering.stack.phase):
        slug = labels.slug(state)
        assert ("msgfleet:k8s:MessengerSite", slug) in components, f"no MessengerSite for {state}"
        for part in COMPONENTS:
            assert (f"msgfleet:k8s:{part}", f"{slug}-{part.lower()}") in components, f"{state} lacks {part}"


@pytest.mark.parametrize(
    "kind", sorted({"Cluster", "ServiceMonitor", "StatefulSet", "PriorityClass", "ResourceQuota", "Service"})
)
def test_scenarios_cover_every_builder_branch(kind: str) -> None:
    """Meta-test: operator and non-operator branches are each rendered by some stack."""
    assert any(m.manifest["kind"] == kind for name in STACKS for m in rendered(name).manifests), kind
    pg = {name: any(m.manifest["kind"] == "Cluster" for m in rendered(name).manifests) for name in STACKS}
    assert set(pg.values()) == {True, False}, f"PostgreSQL branches not both rendered: {pg}"
