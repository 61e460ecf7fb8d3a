"""coturn relays for calls: shared-secret (REST API) auth, UDP/TCP ports, LoadBalancer or host network."""

from __future__ import annotations

from typing import Any

from infra.labels import component_selector
from infra.manifests import pods
from infra.manifests.node import TURN_SECRET
from infra.manifests.spec import Manifest, SiteSpec
from msgfleet.sizing import TURN_CPU, TURN_MEMORY_MIB

TURN = "turn"
TURN_IMAGE = "docker.io/coturn/coturn:4.6.2"
NOBODY = 65534


def relay_ports(site: SiteSpec) -> range:
    low, high = site.plan.infra.turn_relay_ports
    return range(low, high + 1)


def deployment(site: SiteSpec) -> Manifest:
    infra = site.plan.infra
    low, high = infra.turn_relay_ports
    host_network = infra.turn_exposure == "host_network"
    args = [
        "-n",  # no config file: everything is on the command line
        "--log-file=stdout",
        f"--listening-port={infra.turn_port}",
        f"--min-port={low}",
        f"--max-port={high}",
        "--use-auth-secret",
        "--static-auth-secret=$(TURN_SECRET)",
        f"--realm={site.state.lower()}.{infra.domain}",
        "--no-cli",
        "--no-tls",
        "--no-dtls",
        "--fingerprint",
        "--no-multicast-peers",
        # Relays must not reach the cluster's private ranges (RFC 1918) on behalf of clients.
        "--denied-peer-ip=10.0.0.0-10.255.255.255",
        "--denied-peer-ip=172.16.0.0-172.31.255.255",
        "--denied-peer-ip=192.168.0.0-192.168.255.255",
    ]
    ports = [
        {"name": "turn-udp", "containerPort": infra.turn_port, "protocol": "UDP"},
        {"name": "turn-tcp", "containerPort": infra.turn_port, "protocol": "TCP"},
    ]
    container = pods.container(
        TURN,
        TURN_IMAGE,
        cpu=TURN_CPU,
        memory_mib=TURN_MEMORY_MIB,
        uid=NOBODY,
        args=args,
        env=[pods.secret_env("TURN_SECRET", TURN_SECRET, "static-auth-secret")],
        ports=ports,
        readinessProbe={"tcpSocket": {"port": infra.turn_port}, "periodSeconds": 10},
        volumeMounts=[{"name": "tmp", "mountPath": "/tmp"}, {"name": "run", "mountPath": "/var/lib/coturn"}],
    )
    extra: dict[str, Any] = (
        {"hostNetwork": True, "dnsPolicy": "ClusterFirstWithHostNet"} if host_network else {}
    )
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
                    volumes=[pods.empty_dir("tmp", 64), pods.empty_dir("run", 64)],
                    **extra,
                ),
            },
        },
    }


def service(site: SiteSpec) -> Manifest | None:
    """A LoadBalancer with the listening and relay ports (none with ``host_network``)."""
    infra = site.plan.infra
    if infra.turn_exposure == "host_network":
        return None
    ports = [
        {"name": "turn-udp", "port": infra.turn_port, "protocol": "UDP"},
        {"name": "turn-tcp", "port": infra.turn_port, "protocol": "TCP"},
    ]
    ports += [{"name": f"relay-{port}", "port": port, "protocol": "UDP"} for port in relay_ports(site)]
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": site.meta(TURN, TURN),
        "spec": {
            "type": "LoadBalancer",
            "externalTrafficPolicy": "Local",
            "selector": component_selector(TURN),
            "ports": ports,
        },
    }
