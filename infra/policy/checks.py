"""Manifest policies as plain functions ``(manifests) -> violations`` over a whole stack.

Used by the tests, by ``msgfleet infra render`` and by the Pulumi policy pack (``__main__.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

Manifest = dict[str, Any]
STATE = "msgfleet.io/state"
RESIDENCY = "msgfleet.io/residency"
COMPONENT = "app.kubernetes.io/component"
WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}
HOST_NETWORK_ALLOWED = {"turn"}  # coturn may use the host network (infra.turn_exposure: host_network)


@dataclass(frozen=True)
class Violation:
    policy: str
    target: str
    """``Kind/namespace/name`` of the offending manifest."""
    message: str


def ident(manifest: Manifest) -> str:
    meta = manifest.get("metadata", {})
    ns = meta.get("namespace")
    return "/".join(p for p in (manifest.get("kind", "?"), ns, meta.get("name", "?")) if p)


def _labels(manifest: Manifest) -> dict[str, str]:
    return dict(manifest.get("metadata", {}).get("labels") or {})


def _pods(manifests: Sequence[Manifest]) -> Iterator[tuple[Manifest, dict[str, Any], dict[str, Any]]]:
    """(workload, pod template metadata, pod spec) of every workload."""
    for m in manifests:
        if m.get("kind") in WORKLOADS:
            template = m.get("spec", {}).get("template", {})
            yield m, template.get("metadata", {}), template.get("spec", {})
        elif m.get("kind") == "Pod":
            yield m, m.get("metadata", {}), m.get("spec", {})


def _containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [*spec.get("initContainers", []), *spec.get("containers", [])]


def hardened_pods(manifests: Sequence[Manifest]) -> list[Violation]:
    """Non-root, read-only root, no privilege escalation, ALL capabilities dropped, seccomp
    RuntimeDefault, no service-account token, no host namespaces (host network only for TURN)."""
    out = []
    for m, meta, spec in _pods(manifests):
        problems = []
        pod_sc = spec.get("securityContext", {})
        if spec.get("automountServiceAccountToken") is not False:
            problems.append("automountServiceAccountToken is not false")
        if spec.get("hostPID") or spec.get("hostIPC"):
            problems.append("uses the host PID/IPC namespace")
        component = (meta.get("labels") or {}).get(COMPONENT)
        if spec.get("hostNetwork") and component not in HOST_NETWORK_ALLOWED:
            problems.append("uses the host network")
        for c in _containers(spec):
            sc = c.get("securityContext", {})
            name = c.get("name", "?")
            if sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")) is not True:
                problems.append(f"container {name}: runAsNonRoot is not true")
            if sc.get("runAsUser", pod_sc.get("runAsUser")) == 0:
                problems.append(f"container {name}: runs as uid 0")
            if sc.get("readOnlyRootFilesystem") is not True:
                problems.append(f"container {name}: root filesystem is writable")
            if sc.get("allowPrivilegeEscalation") is not False or sc.get("privileged"):
                problems.append(f"container {name}: may escalate privileges")
            if "ALL" not in (sc.get("capabilities", {}).get("drop") or []):
                problems.append(f"container {name}: capabilities not dropped (drop: [ALL])")
            seccomp = sc.get("seccompProfile", pod_sc.get("seccompProfile", {})) or {}
            if seccomp.get("type") not in ("RuntimeDefault", "Localhost"):
                problems.append(f"container {name}: no seccomp profile (RuntimeDefault)")
        out += [Violation("hardened-pods", ident(m), p) for p in problems]
    return out


def resources_set(manifests: Sequence[Manifest]) -> list[Violation]:
    """Every container requests and limits CPU and memory."""
    out = []
    for m, _meta, spec in _pods(manifests):
        for c in _containers(spec):
            res = c.get("resources", {})
            for section in ("requests", "limits"):
                missing = [r for r in ("cpu", "memory") if r not in (res.get(section) or {})]
                if missing:
                    message = f"container {c.get('name', '?')}: no {section} for {', '.join(missing)}"
                    out.append(Violation("resources-set", ident(m), message))
    return out


def pinned_images(manifests: Sequence[Manifest]) -> list[Violation]:
    """Images carry a tag or digest, never ``latest`` (or none, which means latest)."""
    out = []
    for m, _meta, spec in _pods(manifests):
        for c in _containers(spec):
            image = str(c.get("image", ""))
            if "@sha256:" in image:
                continue
            last = image.rsplit("/", 1)[-1]
            tag = last.split(":", 1)[1] if ":" in last else ""
            if tag in ("", "latest"):
                out.append(
                    Violation("pinned-images", ident(m), f"container {c.get('name')}: image {image!r}")
                )
    return out


def residency_labels(manifests: Sequence[Manifest]) -> list[Violation]:
    """Every object and pod template names its state and residency; a namespaced object's state is
    its namespace's state."""
    ns_state = {
        m["metadata"]["name"]: _labels(m).get(STATE) for m in manifests if m.get("kind") == "Namespace"
    }
    out = []
    for m in manifests:
        lbl = _labels(m)
        missing = [k for k in (STATE, RESIDENCY) if not lbl.get(k)]
        if missing:
            out.append(Violation("residency-labels", ident(m), f"missing labels {missing}"))
            continue
        ns = m.get("metadata", {}).get("namespace")
        if ns is not None and ns_state.get(ns) != lbl[STATE]:
            message = f"labelled {lbl[STATE]} but namespace {ns} belongs to {ns_state.get(ns)}"
            out.append(Violation("residency-labels", ident(m), message))
    for m, meta, _spec in _pods(manifests):
        pod = meta.get("labels") or {}
        if pod.get(STATE) != _labels(m).get(STATE) or not pod.get(RESIDENCY):
            out.append(
                Violation("residency-labels", ident(m), "pod template lacks its state/residency labels")
            )
    return out


def default_deny(manifests: Sequence[Manifest]) -> list[Violation]:
    """Every namespace has a NetworkPolicy selecting all pods that denies all ingress and egress."""
    denied = set()
    for m in manifests:
        spec = m.get("spec", {})
        if (
            m.get("kind") == "NetworkPolicy"
            and spec.get("podSelector") == {}
            and set(spec.get("policyTypes", [])) == {"Ingress", "Egress"}
            and not spec.get("ingress")
            and not spec.get("egress")
        ):
            denied.add(m["metadata"].get("namespace"))
    return [
        Violation("default-deny", ident(m), "no default-deny NetworkPolicy in this namespace")
        for m in manifests
        if m.get("kind") == "Namespace" and m["metadata"]["name"] not in denied
    ]


def no_shared_across_residency(manifests: Sequence[Manifest]) -> list[Violation]:
    """No hostPath volumes (a node's disk is shared by every namespace), no cluster-scoped volumes,
    and no secret value reused by two states (each residency zone has its own keys)."""
    name = "no-shared-across-residency"
    out = []
    for m, _meta, spec in _pods(manifests):
        for volume in spec.get("volumes", []):
            if "hostPath" in volume:
                out.append(Violation(name, ident(m), f"hostPath volume {volume.get('name')}"))
    out += [
        Violation(name, ident(m), "PersistentVolume is cluster-scoped (shared by all states)")
        for m in manifests
        if m.get("kind") == "PersistentVolume"
    ]
    seen: dict[str, tuple[str, Manifest, str]] = {}
    for m in manifests:
        if m.get("kind") != "Secret":
            continue
        state = _labels(m).get(STATE, "?")
        for key, value in sorted({**(m.get("data") or {}), **(m.get("stringData") or {})}.items()):
            if not isinstance(value, str) or len(value) < 16:
                continue  # user names and the like are not secrets
            first_state, first, first_key = seen.setdefault(value, (state, m, key))
            if first_state != state:  # report on both sides of the boundary
                out.append(
                    Violation(name, ident(m), f"{key} equals {ident(first)}:{first_key} of {first_state}")
                )
                out.append(Violation(name, ident(first), f"{first_key} equals {ident(m)}:{key} of {state}"))
    return out


def pdb_for_replicated(manifests: Sequence[Manifest]) -> list[Violation]:
    """A Deployment or StatefulSet with more than one replica has a PodDisruptionBudget selecting
    its pods; placeholders at negative priority (meant to be evicted) are exempt."""
    negative = {
        m["metadata"]["name"]
        for m in manifests
        if m.get("kind") == "PriorityClass" and int(m.get("value", 0)) < 0
    }
    budgets = [
        (m["metadata"].get("namespace"), m.get("spec", {}).get("selector", {}).get("matchLabels", {}))
        for m in manifests
        if m.get("kind") == "PodDisruptionBudget"
    ]
    out = []
    for m in manifests:
        if (
            m.get("kind") not in ("Deployment", "StatefulSet")
            or int(m.get("spec", {}).get("replicas", 1)) <= 1
        ):
            continue
        template = m["spec"].get("template", {})
        if template.get("spec", {}).get("priorityClassName") in negative:
            continue
        pod_labels = template.get("metadata", {}).get("labels", {})
        ns = m["metadata"].get("namespace")
        covered = any(
            bns == ns and sel and all(pod_labels.get(k) == v for k, v in sel.items()) for bns, sel in budgets
        )
        if not covered:
            message = f"{m['spec']['replicas']} replicas and no PodDisruptionBudget"
            out.append(Violation("pdb-for-replicated", ident(m), message))
    return out


POLICIES: dict[str, Callable[[Sequence[Manifest]], list[Violation]]] = {
    "hardened-pods": hardened_pods,
    "resources-set": resources_set,
    "pinned-images": pinned_images,
    "residency-labels": residency_labels,
    "default-deny": default_deny,
    "no-shared-across-residency": no_shared_across_residency,
    "pdb-for-replicated": pdb_for_replicated,
}
