"""coturn relays for calls: shared-secret (REST API) auth, UDP/TCP ports, exposed by a LoadBalancer,
NodePorts or the host network (``msgfleet:turnExposure``)."""

from __future__ import annotations

from typing import Any

from infra.labels import component_selector
from infra.manifests import pods
from infra.manifests.node import TURN_SECRET
from infra.manifests.ranges import DENIED_V4, DENIED_V6, coturn_range
from infra.manifests.spec import Manifest, SiteSpec
from msgfleet.sizing import TURN_CPU, TURN_MEMORY_MIB

TURN = "turn"
TURN_IMAGE = "docker.io/coturn/coturn:4.6.2"
NOBODY = 65534


def relay_ports(site: SiteSpec) -> range:
    low, high = site.plan.infra.turn_relay_ports
    return range(low, high + 1)


AUTH_CONF = "auth.conf"
"""Key of the ``turn-secret`` Secret holding coturn's ``static-auth-secret=`` line (a config file,
so the secret is not on coturn's command line, which every process on the node can read)."""
CONF_DIR = "/etc/coturn"


def auth_conf(secret: str) -> str:
    return f"static-auth-secret={secret}\n"


def args(site: SiteSpec) -> list[str]:
    """coturn's command line: REST-API auth from the config file, UDP relays only, the advertised
    address, and every special-purpose range denied as a peer (:mod:`infra.manifests.ranges`)."""
    infra = site.plan.infra
    low, high = infra.turn_relay_ports
    external = site.exposure.turn_external_ip or "$(HOST_IP)"
    return [
        "-c",
        f"{CONF_DIR}/{AUTH_CONF}",
        "--log-file=stdout",
        f"--listening-port={infra.turn_port}",
        f"--min-port={low}",
        f"--max-port={high}",
        f"--external-ip={external}",
        "--use-auth-secret",
        f"--realm={site.state.lower()}.{infra.domain}",
        "--no-cli",
        "--no-tls",
        "--no-dtls",
        "--no-tcp-relay",
        "--fingerprint",
        "--no-multicast-peers",
        *(f"--denied-peer-ip={coturn_range(c)}" for c in (*DENIED_V4, *DENIED_V6)),
    ]


def deployment(site: SiteSpec) -> Manifest:
    infra = site.plan.infra
    host_network = site.exposure.turn == "host_network"
    ports = [
        {"name": "turn-udp", "containerPort": infra.turn_port, "protocol": "UDP"},
        {"name": "turn-tcp", "containerPort": infra.turn_port, "protocol": "TCP"},
    ]
    probe = {"tcpSocket": {"port": infra.turn_port}}
    container = pods.container(
        TURN,
        TURN_IMAGE,
        cpu=TURN_CPU,
        memory_mib=TURN_MEMORY_MIB,
        uid=NOBODY,
        args=args(site),
        # $(HOST_IP) in the arguments is expanded by the kubelet: the node's address, which is what
        # clients reach with host networking or a NodePort (a load balancer's comes from the stack).
        env=[{"name": "HOST_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}}],
        ports=ports,
        readinessProbe={**probe, "periodSeconds": 10},
        livenessProbe={**probe, "periodSeconds": 20, "failureThreshold": 3},
        volumeMounts=[
            {"name": "tmp", "mountPath": "/tmp"},
            {"name": "run", "mountPath": "/var/lib/coturn"},
            {"name": "auth", "mountPath": CONF_DIR, "readOnly": True},
        ],
    )
    extra: dict[str, Any] = (
        {"hostNetwork": True, "dnsPolicy": "ClusterFirstWithHostNet"} if host_network else {}
    )
    auth = {
        "name": "auth",
        "secret": {
            "secretName": TURN_SECRET,
            "defaultMode": 0o440,
            "items": [{"key": AUTH_CONF, "path": AUTH_CONF}],
        },
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": site.meta(TURN, TURN),
        "spec": {
            "replicas": site.sizing.turn_relays,
            "selector": {"matchLabels": component_selector(TURN)},
            "template": {
                "metadata": {"labels": site.pod_labels(TURN)},
                "spec": pods.pod_spec(
                    [container],
                    component=TURN,
                    uid=NOBODY,
                    volumes=[pods.empty_dir("tmp", 64), pods.empty_dir("run", 64), auth],
                    **extra,
                ),
            },
        },
    }


LISTENER_LIMIT = "msgfleet.io/listener-limit"
"""Annotation of a TURN load balancer: the most ports its provider's balancer takes."""


def service(site: SiteSpec) -> Manifest | None:
    """A LoadBalancer or NodePort Service with the listening and relay ports (none with
    ``host_network``). Node ports equal the container ports: coturn advertises the relay port it
    allocated, so the port a client reaches must be that port."""
    infra = site.plan.infra
    kind = site.exposure.turn
    if kind == "host_network":
        return None
    ports = [
        {"name": "turn-udp", "port": infra.turn_port, "protocol": "UDP"},
        {"name": "turn-tcp", "port": infra.turn_port, "protocol": "TCP"},
    ]
    ports += [{"name": f"relay-{port}", "port": port, "protocol": "UDP"} for port in relay_ports(site)]
    meta = site.meta(TURN, TURN)
    if kind == "node_port":
        ports = [{**p, "nodePort": p["port"]} for p in ports]
    else:
        meta["annotations"] = {LISTENER_LIMIT: str(site.exposure.turn_listener_limit)}
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta,
        "spec": {
            "type": "NodePort" if kind == "node_port" else "LoadBalancer",
            "externalTrafficPolicy": "Local",
            "selector": component_selector(TURN),
            "ports": ports,
        },
    }
