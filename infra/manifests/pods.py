"""Hardened pod and container specs (the shape every workload of a site shares)."""

from __future__ import annotations

from typing import Any

from infra import labels

NONROOT_UID = 10001


def resources(cpu: float, memory_mib: int) -> dict[str, Any]:
    """Requests as sized; memory limit = request (no overcommit), CPU limit = 2 × request (bursts)."""
    millicores = max(1, round(cpu * 1000))
    return {
        "requests": {"cpu": f"{millicores}m", "memory": f"{memory_mib}Mi"},
        "limits": {"cpu": f"{2 * millicores}m", "memory": f"{memory_mib}Mi"},
    }


def container(
    name: str,
    image: str,
    *,
    cpu: float,
    memory_mib: int,
    uid: int = NONROOT_UID,
    **fields: Any,
) -> dict[str, Any]:
    """A container that runs as ``uid`` with a read-only root and no capabilities."""
    return {
        "name": name,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "resources": resources(cpu, memory_mib),
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": uid,
            "runAsGroup": uid,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        **fields,
    }


def pod_spec(
    containers: list[dict[str, Any]],
    *,
    component: str,
    uid: int = NONROOT_UID,
    volumes: list[dict[str, Any]] | None = None,
    spread: bool = True,
    **fields: Any,
) -> dict[str, Any]:
    """A pod spec without a service-account token, seccomp on, spread over zones and hosts."""
    spec: dict[str, Any] = {
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": uid,
            "runAsGroup": uid,
            "fsGroup": uid,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": containers,
        **fields,
    }
    if volumes:
        spec["volumes"] = volumes
    if spread:
        selector = {"matchLabels": labels.component_selector(component)}
        spec["topologySpreadConstraints"] = [
            {
                "maxSkew": 1,
                "topologyKey": key,
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": selector,
            }
            for key in ("topology.kubernetes.io/zone", "kubernetes.io/hostname")
        ]
    return spec


def empty_dir(name: str, size_mib: int) -> dict[str, Any]:
    return {"name": name, "emptyDir": {"sizeLimit": f"{size_mib}Mi"}}


def secret_env(name: str, secret: str, key: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def http_probe(path: str, port: int, period_s: int, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": port},
        "periodSeconds": period_s,
        "timeoutSeconds": 2,
        "failureThreshold": failures,
    }
