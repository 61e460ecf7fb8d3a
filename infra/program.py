"""The Pulumi program: every live site of the stack's phase, plus next-phase reservations.

:func:`plan_sites` validates everything and computes each site's spec before any resource exists;
:func:`provision` then creates one provider and one :class:`MessengerSite` per live state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra import labels
from infra.components import CapacityReservation, MessengerSite, SiteIdentity
from infra.errors import InfraError
from infra.federation import allowed_peers
from infra.labels import NODE_PORT
from infra.manifests.spec import Peer, SiteSpec
from infra.sizing import reservations, site_sizing
from infra.stack import StackConfig
from msgfleet.schema import Plan
from msgfleet.sizing import Reservation


@dataclass(frozen=True)
class Layout:
    """What a stack provisions: live site specs, reservations and each state's kube context."""

    sites: tuple[SiteSpec, ...]
    reservations: tuple[Reservation, ...]
    contexts: dict[str, str]


def peer_url(plan: Plan, state: str, same_cluster: bool) -> str:
    """In one cluster peers talk to each other's Service; across clusters, to the public ingress."""
    if same_cluster:
        return f"http://node.{labels.namespace(state)}.svc:{NODE_PORT}"
    return f"https://{labels.host(plan, state)}"


def plan_sites(plan: Plan, stack: StackConfig) -> Layout:
    """Validate the stack against the plan and compute every site's spec (no resources)."""
    phase = stack.phase
    try:
        live = plan.live_sites(phase)
    except IndexError as exc:
        raise InfraError(f"stack {stack.stack}: msgfleet:phase: {exc}") from None
    held = reservations(plan, phase)
    contexts = {state: stack.context_of(plan, state) for state in [*live, *(r.state for r in held)]}
    image = stack.image_of(plan)
    specs = []
    for state in live:
        peers = tuple(
            Peer(
                state=other,
                url=peer_url(plan, other, contexts[other] == contexts[state]),
                same_cluster=contexts[other] == contexts[state],
                cidrs=tuple(plan.infra.peer_cidrs.get(other, ())),
            )
            for other in allowed_peers(plan, phase, state)
        )
        specs.append(SiteSpec(plan, state, phase, image, contexts[state], site_sizing(plan, state), peers))
    return Layout(tuple(specs), tuple(held), contexts)


def _provider(state: str, context: str) -> k8s.Provider:
    # cluster_identifier keeps resources in place if a context is renamed; the dev stack's sites
    # share one cluster, hence one identifier.
    return k8s.Provider(f"k8s-{labels.slug(state)}", context=context, cluster_identifier=context)


def provision(plan: Plan, stack: StackConfig) -> dict[str, Any]:
    """Create every resource of the stack; return the stack outputs (plain values and Outputs)."""
    layout = plan_sites(plan, stack)
    providers = {state: _provider(state, ctx) for state, ctx in layout.contexts.items()}
    identities = {site.state: SiteIdentity(site.state) for site in layout.sites}
    keys = {state: ident.public_key for state, ident in identities.items()}
    outputs: dict[str, Any] = {"phase": stack.phase, "sites": {}, "reserved": {}}
    for site in layout.sites:
        built = MessengerSite(site, identities[site.state], keys, providers[site.state])
        outputs["sites"][site.state] = {
            "url": built.url,
            "federation_endpoint": built.federation_endpoint,
            "public_key": built.public_key,
            "node_pods": site.sizing.pods,
            "turn_relays": site.sizing.turn_relays,
        }
    for held in layout.reservations:
        CapacityReservation(plan, held, providers[held.state])
        outputs["reserved"][held.state] = {
            "phase": held.phase,
            "pods": held.pods,
            "cpu": held.cpu,
            "memory_mib": held.memory_mib,
        }
    return outputs


def main() -> None:
    """Entry point of ``pulumi up`` (``infra/__main__.py``)."""
    from infra.stack import from_pulumi_config

    stack = from_pulumi_config()
    for key, value in provision(stack.load_plan(), stack).items():
        pulumi.export(key, value)
