"""Capacity held for the next phase: PriorityClass −1, pause placeholders and a scoped ResourceQuota.

Placeholder pods run at priority −1, so the scheduler preempts them as soon as real pods (priority
0 or more) need the room; the cluster autoscaler keeps nodes for them until then.
"""

from __future__ import annotations

from infra import labels
from infra.manifests import pods
from infra.manifests.spec import Manifest
from msgfleet.schema import Plan
from msgfleet.sizing import Reservation

PLACEHOLDER = "capacity-placeholder"
PAUSE_IMAGE = "registry.k8s.io/pause:3.10"
PAUSE_UID = 65535  # the pause image's own non-root user


def priority_class_name(state: str) -> str:
    return f"msgfleet-reservation-{labels.slug(state)}"


def manifests(plan: Plan, reservation: Reservation) -> list[Manifest]:
    state, phase = reservation.state, reservation.phase
    role = "reservation"
    cls = priority_class_name(state)
    priority_class = {
        "apiVersion": "scheduling.k8s.io/v1",
        "kind": "PriorityClass",
        "metadata": {"name": cls, "labels": labels.site_labels(plan, state, phase, role)},
        "value": -1,
        "globalDefault": False,
        "preemptionPolicy": "Never",
        "description": f"Placeholder capacity reserved for {state} (phase {phase}); preempted by real pods.",
    }
    container = pods.container(
        "pause", PAUSE_IMAGE, cpu=reservation.pod_cpu, memory_mib=reservation.pod_memory_mib, uid=PAUSE_UID
    )
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": labels.metadata(plan, state, phase, PLACEHOLDER, PLACEHOLDER, role),
        "spec": {
            "replicas": reservation.pods,
            "selector": {"matchLabels": labels.component_selector(PLACEHOLDER)},
            "template": {
                "metadata": {"labels": labels.component_labels(plan, state, phase, PLACEHOLDER, role)},
                "spec": pods.pod_spec(
                    [container],
                    component=PLACEHOLDER,
                    uid=PAUSE_UID,
                    priorityClassName=cls,
                    terminationGracePeriodSeconds=0,
                ),
            },
        },
    }
    cpu = f"{max(0, round(reservation.cpu * 1000))}m"
    memory = f"{reservation.memory_mib}Mi"
    quota = {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": labels.metadata(plan, state, phase, "reservation-quota", role=role),
        "spec": {
            "hard": {
                "pods": str(reservation.pods),
                "requests.cpu": cpu,
                "requests.memory": memory,
                "limits.cpu": f"{2 * max(0, round(reservation.cpu * 1000))}m",
                "limits.memory": memory,
            },
            "scopeSelector": {
                "matchExpressions": [{"scopeName": "PriorityClass", "operator": "In", "values": [cls]}]
            },
        },
    }
    return [priority_class, deployment, quota]
