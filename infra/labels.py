"""Names and labels shared by every manifest of a site (one place, so policies can rely on them)."""

from __future__ import annotations

from msgfleet.schema import Plan

PART_OF = "msgfleet"
STATE = "msgfleet.io/state"
RESIDENCY = "msgfleet.io/residency"
PHASE = "msgfleet.io/phase"
ROLE = "msgfleet.io/role"
COMPONENT = "app.kubernetes.io/component"
NAME = "app.kubernetes.io/name"

NODE_PORT = 8080
"""The node's HTTP port: API, WebSocket, federation, probes and /metrics (contract with messenger/)."""


def slug(state: str) -> str:
    """``RU-MOW`` -> ``ru-mow`` (a DNS-1123 label)."""
    return state.lower()


def namespace(state: str) -> str:
    return f"msgfleet-{slug(state)}"


def host(plan: Plan, state: str) -> str:
    return f"{slug(state)}.{plan.infra.domain}"


def site_labels(plan: Plan, state: str, phase: int, role: str = "site") -> dict[str, str]:
    """Labels every object of a site carries: the residency zone it belongs to."""
    return {
        "app.kubernetes.io/part-of": PART_OF,
        STATE: state,
        RESIDENCY: plan.residency,
        PHASE: str(phase),
        ROLE: role,
    }


def component_selector(component: str) -> dict[str, str]:
    """Pod selector of one component of a site (namespaces already separate the sites)."""
    return {NAME: PART_OF, COMPONENT: component}


def component_labels(
    plan: Plan, state: str, phase: int, component: str, role: str = "site"
) -> dict[str, str]:
    return {**site_labels(plan, state, phase, role), **component_selector(component)}


def metadata(
    plan: Plan, state: str, phase: int, name: str, component: str | None = None, role: str = "site"
) -> dict[str, object]:
    """``metadata`` of a namespaced object of the site."""
    labels = (
        component_labels(plan, state, phase, component, role)
        if component
        else site_labels(plan, state, phase, role)
    )
    return {"name": name, "namespace": namespace(state), "labels": labels}
