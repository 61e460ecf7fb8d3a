"""Federation peers match the residency policy: each live site lists exactly the other live sites
with their real public keys, lets only them in, and no next-phase site is anyone's peer."""

from __future__ import annotations

import json

from infra import labels
from infra.federation import public_key
from infra.render import Rendering


def _manifest(rendering: Rendering, state: str, kind: str, name: str) -> dict:
    for item in rendering.by_state()[state]:
        if item.manifest["kind"] == kind and item.manifest["metadata"]["name"] == name:
            return item.manifest
    raise AssertionError(f"{state}: no {kind}/{name}")


def test_peers_file_lists_the_other_live_sites(rendering: Rendering) -> None:
    live = rendering.plan.live_sites(rendering.stack.phase)
    for state in live:
        doc = json.loads(_manifest(rendering, state, "ConfigMap", "node-config")["data"]["peers.json"])
        peers = doc["peers"]
        assert sorted(p["state"] for p in peers) == sorted(set(live) - {state}), f"{state}'s peers.json"
        forbidden = doc["policy"][state]["forbid_federation_with"]
        expected = sorted({s.state for s in rendering.plan.sites} - set(live))
        assert forbidden == expected, f"{state}'s peers.json must forbid the states not live yet"
        for peer in peers:
            assert peer["public_key"] == rendering.outputs["sites"][peer["state"]]["public_key"], peer


def test_public_keys_come_from_each_sites_own_seed(rendering: Rendering) -> None:
    for state, out in rendering.outputs["sites"].items():
        seed = _manifest(rendering, state, "Secret", "node-secrets")["stringData"]["federation.key"]
        assert out["public_key"] == public_key(seed), f"{state}: output key is not its seed's"
        assert out["federation_endpoint"] == f"https://{labels.host(rendering.plan, state)}/_federation/"


def test_network_policies_admit_only_peers(rendering: Rendering) -> None:
    plan, phase = rendering.plan, rendering.stack.phase
    live = plan.live_sites(phase)
    for state in live:
        others = set(live) - {state}
        same_cluster = {
            o
            for o in others
            if rendering.stack.context_of(plan, o) == rendering.stack.context_of(plan, state)
        }
        ingress = _manifest(rendering, state, "NetworkPolicy", "node-ingress")["spec"]["ingress"]
        admitted = {
            peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
            for rule in ingress
            for peer in rule["from"]
        }
        expected = {labels.namespace(o) for o in same_cluster} | {plan.infra.ingress_namespace}
        if plan.infra.operators.prometheus_operator:
            expected.add("monitoring")
        assert admitted == expected, f"{state}: node-ingress admits {sorted(admitted)}"
        remote = others - same_cluster
        fed = _manifest(rendering, state, "Ingress", "federation")
        allow = (
            fed["metadata"].get("annotations", {}).get("nginx.ingress.kubernetes.io/whitelist-source-range")
        )
        if not remote:
            assert allow == "127.0.0.1/32", f"{state}: federation paths must be closed to the outside"
        elif all(plan.infra.peer_cidrs.get(o) for o in remote):
            assert allow == ",".join(sorted(c for o in remote for c in plan.infra.peer_cidrs[o])), state


def test_next_phase_sites_are_nobodys_peer(rendering: Rendering) -> None:
    plan, phase = rendering.plan, rendering.stack.phase
    if phase >= len(plan.phases):
        return
    for held in plan.phases[phase].sites:
        for item in rendering.manifests:
            if item.manifest["kind"] in ("ConfigMap", "NetworkPolicy", "Ingress"):
                text = json.dumps(item.manifest)
                assert labels.namespace(held) not in text or item.state == held, f"{item.path} names {held}"
                if item.manifest["kind"] == "ConfigMap":
                    peers = json.loads(item.manifest["data"]["peers.json"])["peers"]
                    assert held not in [p["state"] for p in peers], f"{item.path} lists {held} as a peer"


def test_node_pods_roll_when_their_peers_change(rendering: Rendering) -> None:
    from infra.manifests.node import config_checksum

    for state in rendering.outputs["sites"]:
        data = _manifest(rendering, state, "ConfigMap", "node-config")["data"]
        template = _manifest(rendering, state, "Deployment", "node")["spec"]["template"]
        annotation = template["metadata"]["annotations"]["msgfleet.io/config-checksum"]
        assert annotation == config_checksum(data["peers.json"], data["tariffs.json"]), state
        assert annotation != config_checksum(data["peers.json"] + " ", data["tariffs.json"])
