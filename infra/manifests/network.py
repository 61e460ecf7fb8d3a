"""NetworkPolicies: deny everything, then allow exactly the flows a site needs.

Allowed: the ingress controller and (same-cluster) peer sites into the node; the node out to its
own database, Redis, media store, DNS and its peers; calls into TURN. A peer in another cluster is
reached through its public ingress on 443 (to ``infra.peer_cidrs`` when known). "Public" is IPv4
and IPv6 without the special-purpose blocks of :mod:`infra.manifests.ranges` (coturn denies the same).
"""

from __future__ import annotations

from typing import Any

from infra import labels
from infra.labels import NODE_PORT, component_selector
from infra.manifests.node import MIGRATE
from infra.manifests.ranges import public_blocks
from infra.manifests.spec import Manifest, SiteSpec
from infra.manifests.stores import MINIO, MINIO_PORT, POSTGRES, POSTGRES_PORT, REDIS, REDIS_PORT
from infra.manifests.turn import TURN
from msgfleet.schema import Plan

NODE = "node"
DEFAULT_DENY = "default-deny"
API_SERVER = "msgfleet.io/reaches-api-server"
"""Annotation of a NetworkPolicy whose pods reach the Kubernetes API server (any address, 443/6443)."""
NAMESPACE_NAME = "kubernetes.io/metadata.name"  # set by the API server on every namespace (k8s >= 1.22)


def _policy(
    plan: Plan, state: str, phase: int, name: str, spec: dict[str, Any], role: str = "site"
) -> Manifest:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": labels.metadata(plan, state, phase, name, role=role),
        "spec": spec,
    }


def default_deny(plan: Plan, state: str, phase: int, role: str = "site") -> Manifest:
    spec = {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    return _policy(plan, state, phase, DEFAULT_DENY, spec, role)


def _pods(component: str) -> dict[str, Any]:
    return {"podSelector": {"matchLabels": component_selector(component)}}


def _namespace(name: str, component: str | None = None) -> dict[str, Any]:
    peer: dict[str, Any] = {"namespaceSelector": {"matchLabels": {NAMESPACE_NAME: name}}}
    if component:
        peer["podSelector"] = {"matchLabels": component_selector(component)}
    return peer


def _tcp(*ports: int) -> list[dict[str, Any]]:
    return [{"protocol": "TCP", "port": port} for port in ports]


def _ingress(site: SiteSpec, name: str, component: str, rules: list[dict[str, Any]]) -> Manifest:
    spec = {**_pods(component), "policyTypes": ["Ingress"], "ingress": rules}
    return _policy(site.plan, site.state, site.phase, name, spec)


def _egress(site: SiteSpec, name: str, component: str | None, rules: list[dict[str, Any]]) -> Manifest:
    selector = _pods(component) if component else {"podSelector": {}}
    spec = {**selector, "policyTypes": ["Egress"], "egress": rules}
    return _policy(site.plan, site.state, site.phase, name, spec)


def policies(site: SiteSpec) -> list[Manifest]:
    """Every NetworkPolicy of a live site, default deny first."""
    infra = site.plan.infra
    same_cluster = [p for p in site.peers if p.same_cluster]
    remote = [p for p in site.peers if not p.same_cluster]

    node_from = [{"from": [_namespace(infra.ingress_namespace)], "ports": _tcp(NODE_PORT)}]
    if same_cluster:
        peers = [_namespace(labels.namespace(p.state), NODE) for p in same_cluster]
        node_from.append({"from": peers, "ports": _tcp(NODE_PORT)})
    if infra.operators.prometheus_operator:
        node_from.append({"from": [_namespace("monitoring")], "ports": _tcp(NODE_PORT)})

    node_to = [
        {"to": [_pods(POSTGRES)], "ports": _tcp(POSTGRES_PORT)},
        {"to": [_pods(REDIS)], "ports": _tcp(REDIS_PORT)},
    ]
    if infra.media_store == "minio":
        node_to.append({"to": [_pods(MINIO)], "ports": _tcp(MINIO_PORT)})
    else:
        node_to.append({"to": public_blocks(), "ports": _tcp(443)})
    if same_cluster:
        peers = [_namespace(labels.namespace(p.state), NODE) for p in same_cluster]
        node_to.append({"to": peers, "ports": _tcp(NODE_PORT)})
    if remote:
        cidrs = sorted({c for p in remote for c in p.cidrs})
        blocks = (
            [{"ipBlock": {"cidr": c}} for c in cidrs] if all(p.cidrs for p in remote) else public_blocks()
        )
        node_to.append({"to": blocks, "ports": _tcp(443)})

    dns = {
        "to": [{**_namespace("kube-system"), "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
        "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
    }
    result = [
        default_deny(site.plan, site.state, site.phase),
        _egress(site, "allow-dns", None, [dns]),
        _ingress(site, "node-ingress", NODE, node_from),
        _egress(site, "node-egress", NODE, node_to),
        _ingress(site, "redis-ingress", REDIS, [{"from": [_pods(NODE)], "ports": _tcp(REDIS_PORT)}]),
    ]
    result.append(
        _egress(site, "migrate-egress", MIGRATE, [{"to": [_pods(POSTGRES)], "ports": _tcp(POSTGRES_PORT)}])
    )
    db_from = [{"from": [_pods(NODE), _pods(MIGRATE)], "ports": _tcp(POSTGRES_PORT)}]
    if infra.operators.cloudnative_pg:
        # The operator probes instances (status port 8000); instances replicate to each other and
        # talk to the API server, whose address is cluster-specific (hence 443/6443 anywhere).
        db_from += [
            {"from": [_namespace("cnpg-system")], "ports": _tcp(8000, POSTGRES_PORT)},
            {"from": [_pods(POSTGRES)], "ports": _tcp(POSTGRES_PORT)},
        ]
        api = {"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": _tcp(443, 6443)}
        egress = _egress(site, "postgres-egress", POSTGRES, [api, {"to": [_pods(POSTGRES)]}])
        egress["metadata"]["annotations"] = {API_SERVER: "CloudNativePG instances"}
        result.append(egress)
    result.append(_ingress(site, "postgres-ingress", POSTGRES, db_from))
    if infra.media_store == "minio":
        result.append(
            _ingress(site, "minio-ingress", MINIO, [{"from": [_pods(NODE)], "ports": _tcp(MINIO_PORT)}])
        )
    low, high = infra.turn_relay_ports
    turn_in = [
        {"protocol": "UDP", "port": infra.turn_port},
        {"protocol": "TCP", "port": infra.turn_port},
        {"protocol": "UDP", "port": low, "endPort": high},
    ]
    result.append(_ingress(site, "turn-ingress", TURN, [{"ports": turn_in}]))
    relay_out = {"to": public_blocks(), "ports": [{"protocol": "UDP"}]}
    result.append(_egress(site, "turn-egress", TURN, [relay_out]))
    return result
