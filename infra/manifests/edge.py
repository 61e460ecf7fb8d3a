"""How a site is reached: Ingress with TLS (federation paths allow-listed) and a ServiceMonitor."""

from __future__ import annotations

from typing import Any

from infra import labels
from infra.labels import NODE_PORT, component_selector
from infra.manifests.node import body_limit
from infra.manifests.spec import Manifest, SiteSpec

NODE = "node"
TLS_SECRET = "node-tls"
ISSUER = "cert-manager.io/cluster-issuer"
TLS_PROVIDED = "msgfleet.io/tls-provided"
"""Annotation naming a certificate Secret created out of band (``msgfleet:tlsSecret``)."""
FEDERATION_PATHS = ("/_federation/", "/.well-known/msgfleet")
WHITELIST = "nginx.ingress.kubernetes.io/whitelist-source-range"
BODY_SIZE = "nginx.ingress.kubernetes.io/proxy-body-size"
CLOSED = "127.0.0.1/32"  # no client reaches an ingress from loopback: the path is closed


def _ingress(site: SiteSpec, name: str, paths: list[str], annotations: dict[str, str]) -> Manifest:
    infra = site.plan.infra
    host = labels.host(site.plan, site.state)
    if site.exposure.tls_secret:
        annotations = {**annotations, TLS_PROVIDED: site.exposure.tls_secret}
    elif infra.tls_cluster_issuer:
        annotations = {**annotations, ISSUER: infra.tls_cluster_issuer}
    meta: dict[str, Any] = site.meta(name, NODE)
    if annotations:
        meta["annotations"] = annotations
    backend = {"service": {"name": NODE, "port": {"number": NODE_PORT}}}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": meta,
        "spec": {
            "ingressClassName": infra.ingress_class,
            "tls": [{"hosts": [host], "secretName": site.exposure.tls_secret or TLS_SECRET}],
            "rules": [
                {
                    "host": host,
                    "http": {"paths": [{"path": p, "pathType": "Prefix", "backend": backend} for p in paths]},
                }
            ],
        },
    }


def ingresses(site: SiteSpec) -> list[Manifest]:
    """The public API on ``/``; federation paths in their own Ingress with ingress-nginx's source
    allow-list: the remote peers' addresses when all are known, closed (loopback only) when every
    peer is in the same cluster, open when a remote peer's addresses are unknown (requests are still
    signed with the peers' Ed25519 keys)."""
    # Uploads are streamed to the node (no buffering in the controller) up to the node's own limit.
    uploads = {BODY_SIZE: body_limit(), "nginx.ingress.kubernetes.io/proxy-request-buffering": "off"}
    public = _ingress(site, NODE, ["/"], uploads)
    remote = [p for p in site.peers if not p.same_cluster]
    cidrs = sorted({c for p in remote for c in p.cidrs})
    if not remote:
        allow = {WHITELIST: CLOSED}
    elif all(p.cidrs for p in remote):
        allow = {WHITELIST: ",".join(cidrs)}
    else:
        allow = {}
    return [public, _ingress(site, "federation", list(FEDERATION_PATHS), allow)]


def service_monitor(site: SiteSpec) -> Manifest | None:
    """A Prometheus-operator ServiceMonitor for ``/metrics`` (only when the operator is installed)."""
    if not site.plan.infra.operators.prometheus_operator:
        return None
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": site.meta(NODE, NODE),
        "spec": {
            "selector": {"matchLabels": component_selector(NODE)},
            "endpoints": [{"port": "http", "path": "/metrics", "interval": "30s"}],
            "namespaceSelector": {"matchNames": [site.namespace]},
        },
    }
