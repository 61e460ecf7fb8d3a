"""Every Kubernetes resource is bound to its own site's provider; no default provider is used."""

from __future__ import annotations

from infra import labels
from infra.render import Rendering

PROVIDER_TYPE = "pulumi:providers:kubernetes"


def test_every_resource_uses_its_sites_provider(rendering: Rendering) -> None:
    for item in rendering.manifests:
        expected = f"{PROVIDER_TYPE}::k8s-{labels.slug(item.state)}::"
        assert item.provider and expected in item.provider, (
            f"{item.typ}::{item.name} ({item.path}) is bound to {item.provider!r}, not {expected}"
        )


def test_one_provider_per_site_with_its_context(rendering: Rendering) -> None:
    providers = {r.name: r.inputs for r in rendering.others if r.typ == PROVIDER_TYPE}
    states = sorted(rendering.by_state())
    assert sorted(providers) == [f"k8s-{labels.slug(s)}" for s in states]
    for state in states:
        inputs = providers[f"k8s-{labels.slug(state)}"]
        context = rendering.stack.context_of(rendering.plan, state)
        assert inputs.get("context") == context, f"provider of {state}: {inputs}"
        assert inputs.get("clusterIdentifier") == context, f"provider of {state} has no cluster_identifier"


def test_stack_files_disable_default_kubernetes_provider(rendering: Rendering) -> None:
    import yaml

    from infra.stack import ROOT

    config = yaml.safe_load((ROOT / f"Pulumi.{rendering.stack.stack}.yaml").read_text())["config"]
    assert "kubernetes" in config["pulumi:disable-default-providers"]
