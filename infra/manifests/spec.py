"""What a site's builders need: the plan, the state, its phase, sizing, image and peers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from infra import labels
from msgfleet.schema import Plan
from msgfleet.sizing import SiteSize

Manifest = dict[str, Any]


@dataclass(frozen=True)
class Peer:
    """A site this site federates with."""

    state: str
    url: str
    same_cluster: bool
    cidrs: tuple[str, ...] = ()


@dataclass(frozen=True)
class Exposure:
    """How a site is reached from outside: TURN's exposure and address, certificates, image pulls."""

    turn: str = "load_balancer"
    """``load_balancer``, ``node_port`` or ``host_network``."""
    turn_external_ip: str | None = None
    """The address coturn advertises (else the node's, through the downward API)."""
    turn_listener_limit: int = 50
    tls_secret: str | None = None
    """A provided ``kubernetes.io/tls`` Secret (else cert-manager issues ``node-tls``)."""
    pull_secrets: tuple[str, ...] = ()


@dataclass(frozen=True)
class SiteSpec:
    plan: Plan
    state: str
    phase: int
    image: str
    context: str
    sizing: SiteSize
    peers: tuple[Peer, ...] = ()
    protect: bool = True
    """``protect`` on the objects that hold data (``msgfleet:protect``; they are always retained)."""
    exposure: Exposure = Exposure()

    @property
    def namespace(self) -> str:
        return labels.namespace(self.state)

    @property
    def base_url(self) -> str:
        return f"https://{labels.host(self.plan, self.state)}"

    def meta(self, name: str, component: str | None = None) -> dict[str, Any]:
        return labels.metadata(self.plan, self.state, self.phase, name, component)

    def pod_labels(self, component: str) -> dict[str, str]:
        """Pod-template labels: without the phase, so that a phase change does not roll every pod."""
        found = labels.component_labels(self.plan, self.state, self.phase, component)
        return {k: v for k, v in found.items() if k != labels.PHASE}


def namespace_manifest(plan: Plan, state: str, phase: int, role: str, privileged_pods: bool) -> Manifest:
    """The state's namespace: its residency zone, with Pod Security admission at ``restricted``
    (``privileged`` only when TURN uses the host network, still warning at ``restricted``)."""
    pod_security = {
        "pod-security.kubernetes.io/enforce": "privileged" if privileged_pods else "restricted",
        "pod-security.kubernetes.io/warn": "restricted",
    }
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": labels.namespace(state),
            "labels": {**labels.site_labels(plan, state, phase, role), **pod_security},
        },
    }
