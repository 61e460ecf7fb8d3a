"""The Pulumi program: every live site of the stack's phase, plus next-phase reservations.

:func:`plan_sites` validates everything and computes each site's spec before any resource exists;
:func:`provision` then creates one provider and one :class:`MessengerSite` per live state.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra import labels
from infra.components import CapacityReservation, MessengerSite, SiteIdentity
from infra.errors import InfraError
from infra.federation import allowed_peers
from infra.labels import NODE_PORT
from infra.manifests.spec import Exposure, Peer, SiteSpec
from infra.sizing import DESIGN_LOAD, next_phase_sites, reservations, site_sizing, sizing_source
from infra.stack import ROOT, StackConfig
from msgfleet.schema import Plan, load_plan
from msgfleet.sizing import Reservation


@dataclass(frozen=True)
class Layout:
    """What a stack provisions: live site specs, reservations and each state's kube context."""

    plan: Plan
    """The plan as deployed: the stack's domain and issuer, the sized plan's loads."""
    sites: tuple[SiteSpec, ...]
    reservations: tuple[Reservation, ...]
    contexts: dict[str, str]
    sizing_sources: dict[str, str]
    """Where each state's load comes from (:func:`infra.sizing.sizing_source`)."""

    @property
    def unsized(self) -> list[str]:
        """States sized without the simulator's load (flat share or no load at all)."""
        return [s for s, source in self.sizing_sources.items() if source != DESIGN_LOAD]


def peer_url(plan: Plan, state: str, same_cluster: bool) -> str:
    """In one cluster peers talk to each other's Service; across clusters, to the public ingress."""
    if same_cluster:
        return f"http://node.{labels.namespace(state)}.svc:{NODE_PORT}"
    return f"https://{labels.host(plan, state)}"


NODE_PORT_RANGE = (30000, 32767)
"""The API server's default ``--service-node-port-range``."""


def exposure_of(plan: Plan, stack: StackConfig, state: str) -> Exposure:
    """How ``state``'s site is reached, checked against what the exposure can carry."""
    where = f"stack {stack.stack}"
    kind = stack.turn_exposure_of(plan)
    low, high = plan.infra.turn_relay_ports
    ip = stack.turn_external_ips.get(state)
    if kind == "load_balancer":
        ports = 2 + high - low + 1  # listening port over UDP and TCP, one UDP port per relay port
        if ports > stack.turn_listener_limit:
            raise InfraError(
                f"{where}: TURN load balancer of {state} needs {ports} ports (infra.turn_relay_ports "
                f"{low}-{high}) > msgfleet:turnListenerLimit {stack.turn_listener_limit}: narrow the "
                "relay range or set msgfleet:turnExposure to node_port or host_network"
            )
        if ip is None:
            raise InfraError(
                f"{where}: msgfleet:turnExternalIps.{state}: a TURN load balancer needs its reserved "
                "public address (coturn advertises it; Pulumi does not wait for one to be assigned)"
            )
    elif kind == "node_port":
        lo, hi = NODE_PORT_RANGE
        outside = [p for p in (plan.infra.turn_port, low, high) if not lo <= p <= hi]
        if outside:
            raise InfraError(
                f"{where}: TURN node ports of {state}: {outside} outside the node-port range "
                f"{lo}-{hi}: set infra.turn_port and infra.turn_relay_ports inside it"
            )
    return Exposure(kind, ip, stack.turn_listener_limit, stack.tls_secret, stack.image_pull_secrets)


def sized(plan: Plan, stack: StackConfig) -> Plan:
    """``plan`` with the loads of the simulator's sized plan named by ``msgfleet:sizedPlan``."""
    if not stack.sized_plan:
        return plan
    path = Path(stack.sized_plan.format(phase=stack.phase))
    path = path if path.is_absolute() else ROOT / path
    if not path.exists():
        raise InfraError(
            f"stack {stack.stack}: msgfleet:sizedPlan: {path} does not exist: write it with "
            f"`msgfleet sim rollout --plan {stack.plan_path} --out DIR --sized-plan {path} "
            f"--phase {stack.phase}` (make sized-plans)"
        )
    source = load_plan(path)
    if source.name != plan.name:
        raise InfraError(f"{path}: sized plan of {source.name!r}, the stack's plan is {plan.name!r}")
    wanted = [*plan.live_sites(stack.phase), *next_phase_sites(plan, stack.phase)]
    missing = [s for s in wanted if s not in source.infra.design_load]
    if missing:
        raise InfraError(
            f"{path}: infra.design_load: no load for {', '.join(missing)} (sized for another phase "
            f"than {stack.phase}?)"
        )
    update = {"design_load": source.infra.design_load, "design_users": source.infra.design_users}
    return plan.model_copy(update={"infra": plan.infra.model_copy(update=update)})


def deployed(plan: Plan, stack: StackConfig) -> Plan:
    """The plan as the stack deploys it: its domain and issuer (checked), the sized plan's loads."""
    return sized(stack.deployed_plan(plan), stack)


def plan_sites(plan: Plan, stack: StackConfig) -> Layout:
    """Validate the stack against the plan and compute every site's spec (no resources)."""
    phase = stack.phase
    try:
        live = plan.live_sites(phase)
    except IndexError as exc:
        raise InfraError(f"stack {stack.stack}: msgfleet:phase: {exc}") from None
    plan = deployed(plan, stack)
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
        specs.append(
            SiteSpec(
                plan,
                state,
                phase,
                image,
                contexts[state],
                site_sizing(plan, state),
                peers,
                protect=stack.protect,
                exposure=exposure_of(plan, stack, state),
            )
        )
    sources = {state: sizing_source(plan, state) for state in [*live, *(r.state for r in held)]}
    return Layout(plan, tuple(specs), tuple(held), contexts, sources)


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
    outputs: dict[str, Any] = {"phase": stack.phase, "sites": {}, "reserved": {}, "unsized": layout.unsized}
    if layout.unsized:
        outputs["sizing_warning"] = unsized_warning(layout.plan.name, layout.unsized)
    for site in layout.sites:
        built = MessengerSite(site, identities[site.state], keys, providers[site.state])
        outputs["sites"][site.state] = {
            "url": built.url,
            "federation_endpoint": built.federation_endpoint,
            "public_key": built.public_key,
            "node_pods": site.sizing.pods,
            "max_pods": max(site.sizing.max_pods, site.sizing.pods),
            "turn_channels": site.sizing.turn_channels,
            "turn_relays": site.sizing.turn_relays,
            "cpu": site.sizing.cpu,
            "memory_mib": site.sizing.memory_mib,
            "sized_from": layout.sizing_sources[site.state],
        }
    for held in layout.reservations:
        CapacityReservation(layout.plan, held, providers[held.state], protect=stack.protect)
        outputs["reserved"][held.state] = {
            "phase": held.phase,
            "pods": held.pods,
            "cpu": held.cpu,
            "memory_mib": held.memory_mib,
            "sized_from": layout.sizing_sources[held.state],
        }
    return outputs


def unsized_warning(plan_name: str, states: list[str]) -> str:
    """The loud line for sites not sized from the simulator (stack output, ``pulumi up`` warning,
    render table)."""
    shown = ", ".join(states[:6]) + (f" and {len(states) - 6} more" if len(states) > 6 else "")
    return (
        f"plan {plan_name!r} has no design load (infra.design_load) for {shown}: those sites "
        "are NOT sized from the simulator (flat share of design_users, or min_pods); point "
        "msgfleet:sizedPlan at `msgfleet sim rollout --sized-plan` output"
    )


def main() -> None:
    """Entry point of ``pulumi up`` (``infra/__main__.py``)."""
    from infra.stack import from_pulumi_config

    stack = from_pulumi_config()
    outputs = provision(stack.load_plan(), stack)
    if outputs["unsized"]:
        pulumi.log.warn(outputs["sizing_warning"])
    for key, value in outputs.items():
        pulumi.export(key, value)
