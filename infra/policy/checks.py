"""Manifest policies as plain functions ``(manifests) -> violations`` over a whole stack.

Used by the tests, by ``msgfleet infra render`` and by the Pulumi policy pack (``__main__.py``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from infra.manifests.edge import BODY_SIZE, ISSUER, TLS_PROVIDED
from infra.manifests.node import LARGEST_UPLOAD_BYTES, MIB, UPLOADS_IN_FLIGHT
from infra.manifests.ranges import DENIED_V4, DENIED_V6, coturn_range
from infra.manifests.turn import LISTENER_LIMIT

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


def _ingress_hosts(m: Manifest) -> set[str]:
    return {r.get("host", "") for r in m.get("spec", {}).get("rules", [])}


def tls_certificates(manifests: Sequence[Manifest]) -> list[Violation]:
    """Every Ingress serves TLS for each of its hosts from a named source: a cert-manager
    ClusterIssuer (which creates the Secret) or a Secret provided out of band, named on the Ingress
    (else the controller serves its default certificate, which federation peers refuse)."""
    out = []
    for m in (m for m in manifests if m.get("kind") == "Ingress"):
        tls = m.get("spec", {}).get("tls") or []
        covered = {h for entry in tls for h in entry.get("hosts", [])}
        missing = sorted(_ingress_hosts(m) - covered)
        if missing:
            out.append(Violation("tls-certificates", ident(m), f"hosts without TLS: {missing}"))
        notes = m.get("metadata", {}).get("annotations") or {}
        secrets = {entry.get("secretName") for entry in tls}
        if ISSUER not in notes and (notes.get(TLS_PROVIDED) is None or {notes[TLS_PROVIDED]} != secrets):
            message = (
                f"no certificate source for {sorted(map(str, secrets))}: no {ISSUER} and no {TLS_PROVIDED}"
            )
            out.append(Violation("tls-certificates", ident(m), message))
    return out


def _mib(quantity: str) -> float:
    """A Kubernetes quantity (``1909m`` for nginx, ``4391Mi``, ``2Gi``, ``2000M``) in MiB."""
    units = {"k": 1 / 1024, "m": 1, "g": 1024, "Ki": 1 / 1024, "Mi": 1, "Gi": 1024, "Ti": 1024**2}
    units |= {"M": 1e6 / MIB, "G": 1e9 / MIB}
    number = quantity.rstrip("kmgKMGTi")
    return float(number) * units.get(quantity[len(number) :], 1 / MIB)


def upload_limits(manifests: Sequence[Manifest]) -> list[Violation]:
    """The node's largest upload passes its public Ingress (ingress-nginx ``proxy-body-size``; its
    1 MiB default answers 413) and fits its spool: the ``/data`` emptyDir holds the uploads in
    flight and the container's ephemeral-storage limit holds its emptyDirs (else it is evicted)."""
    out = []
    largest = LARGEST_UPLOAD_BYTES / MIB
    for m in manifests:
        notes = m.get("metadata", {}).get("annotations") or {}
        labels = _labels(m)
        if m.get("kind") == "Ingress" and labels.get(COMPONENT) == "node":
            paths = [p.get("path") for r in m["spec"].get("rules", []) for p in r["http"]["paths"]]
            if "/" in paths and _mib(notes.get(BODY_SIZE, "1m")) < largest:
                message = f"{BODY_SIZE} {notes.get(BODY_SIZE, '1m (default)')} < the largest upload"
                out.append(Violation("upload-limits", ident(m), message))
    for m, meta, spec in _pods(manifests):
        if (meta.get("labels") or {}).get(COMPONENT) != "node" or m.get("kind") == "Job":
            continue
        dirs = {
            v["name"]: _mib(v["emptyDir"].get("sizeLimit", "0"))
            for v in spec.get("volumes", [])
            if "emptyDir" in v
        }
        if dirs.get("data", 0) < UPLOADS_IN_FLIGHT * largest:
            held = dirs.get("data", 0)
            message = f"/data holds {held:.0f} MiB < {UPLOADS_IN_FLIGHT} uploads of {largest:.0f} MiB"
            out.append(Violation("upload-limits", ident(m), message))
        for c in spec.get("containers", []):
            limit = (c.get("resources", {}).get("limits") or {}).get("ephemeral-storage")
            if limit is None or _mib(limit) < sum(dirs.values()):
                message = f"container {c.get('name')}: ephemeral-storage limit {limit} < its emptyDirs"
                out.append(Violation("upload-limits", ident(m), message))
    return out


def _args(container: dict[str, Any]) -> list[str]:
    return [str(a) for a in (*container.get("command", []), *container.get("args", []))]


def _covers(ranges: set[str], wanted: Sequence[str]) -> list[str]:
    return [r for r in wanted if r not in ranges]


def turn_relays(manifests: Sequence[Manifest]) -> list[Violation]:
    """coturn relays only UDP (``--no-tcp-relay``), advertises an address (``--external-ip``),
    denies every special-purpose range as a peer, keeps its secret off the command line; a TURN
    load balancer has no more ports than its provider's listener limit."""
    out = []
    wanted = [coturn_range(c) for c in (*DENIED_V4, *DENIED_V6)]
    for m, meta, spec in _pods(manifests):
        if (meta.get("labels") or {}).get(COMPONENT) != "turn":
            continue
        for c in spec.get("containers", []):
            args = _args(c)
            problems = [
                f"no {flag}"
                for flag in ("--no-tcp-relay", "--external-ip")
                if not any(a.startswith(flag) for a in args)
            ]
            denied = {a.split("=", 1)[1] for a in args if a.startswith("--denied-peer-ip=")}
            if missing := _covers(denied, wanted):
                problems.append(f"peers not denied: {missing}")
            if any("auth-secret=" in a or "SECRET)" in a for a in args):
                problems.append("the shared secret is on the command line")
            out += [Violation("turn-relays", ident(m), f"container {c.get('name')}: {p}") for p in problems]
    for m in manifests:
        spec = m.get("spec", {})
        if (
            m.get("kind") == "Service"
            and spec.get("type") == "LoadBalancer"
            and _labels(m).get(COMPONENT) == "turn"
        ):
            limit = (m["metadata"].get("annotations") or {}).get(LISTENER_LIMIT)
            if limit is None or len(spec.get("ports", [])) > int(limit):
                message = f"{len(spec.get('ports', []))} ports, listener limit {limit}"
                out.append(Violation("turn-relays", ident(m), message))
    return out


def public_egress(manifests: Sequence[Manifest]) -> list[Violation]:
    """A NetworkPolicy that lets pods reach "any" address (0.0.0.0/0 or ::/0) excepts every
    special-purpose range of its family (private, shared, link-local: cloud metadata, ...)."""
    out = []
    for m in (m for m in manifests if m.get("kind") == "NetworkPolicy"):
        for rule in m.get("spec", {}).get("egress") or []:
            for peer in rule.get("to") or []:
                block = peer.get("ipBlock") or {}
                wanted = {"0.0.0.0/0": DENIED_V4, "::/0": DENIED_V6}.get(block.get("cidr", ""), ())
                if not wanted or (
                    rule.get("ports")
                    and {p.get("port") for p in rule["ports"]} <= {443, 6443}
                    and m["metadata"]["name"] == "postgres-egress"
                ):
                    continue  # CloudNativePG instances reach the API server, whose address varies
                if missing := _covers(set(block.get("except") or []), wanted):
                    message = f"egress to {block['cidr']} does not except {missing}"
                    out.append(Violation("public-egress", ident(m), message))
    return out


def migrations_once(manifests: Sequence[Manifest]) -> list[Violation]:
    """Each site's schema is migrated by one Job running the node's own image (digest and pull
    secrets alike), so a rollout migrates once, before its pods, with the code it deploys."""
    out = []
    for m in manifests:
        if m.get("kind") != "Deployment" or _labels(m).get(COMPONENT) != "node":
            continue
        ns = m["metadata"].get("namespace")
        pod = m["spec"]["template"]["spec"]
        jobs = [
            j
            for j in manifests
            if j.get("kind") == "Job"
            and j["metadata"].get("namespace") == ns
            and _labels(j).get(COMPONENT) == "migrate"
        ]
        if len(jobs) != 1:
            out.append(Violation("migrations-once", ident(m), f"{len(jobs)} migration Jobs in {ns}, want 1"))
            continue
        job = jobs[0]["spec"]["template"]["spec"]
        same = (job["containers"][0].get("image"), job.get("imagePullSecrets")) == (
            pod["containers"][0].get("image"),
            pod.get("imagePullSecrets"),
        )
        if not same:
            out.append(
                Violation("migrations-once", ident(jobs[0]), "image or pull secrets differ from the node's")
            )
    return out


_URL_PASSWORD = re.compile(r"[a-z][a-z0-9+.-]*://[^/@:\s]*:[^/@\s]+@", re.IGNORECASE)
URL_SECRET_KEYS = {"redis-url"}
"""Secret keys that may hold a URL with a password: the node's Redis client takes its password only
from the URL (redis-py), so that one lives in a Secret, read through ``secretKeyRef``."""


def no_password_urls(manifests: Sequence[Manifest]) -> list[Violation]:
    """No password inside a URL: not in a pod's env, arguments or a ConfigMap, and in a Secret only
    under :data:`URL_SECRET_KEYS` (the database's password reaches asyncpg as ``PGPASSWORD``)."""
    out = []
    for m, _meta, spec in _pods(manifests):
        for c in _containers(spec):
            texts = [str(e.get("value", "")) for e in c.get("env", [])] + _args(c)
            if any(_URL_PASSWORD.search(t) for t in texts):
                out.append(
                    Violation(
                        "no-password-urls", ident(m), f"container {c.get('name')}: a URL with a password"
                    )
                )
    for m in manifests:
        if m.get("kind") not in ("Secret", "ConfigMap"):
            continue
        values = {**(m.get("data") or {}), **(m.get("stringData") or {})}
        for key, value in sorted(values.items()):
            allowed = m["kind"] == "Secret" and key in URL_SECRET_KEYS
            if isinstance(value, str) and not allowed and _URL_PASSWORD.search(value):
                out.append(Violation("no-password-urls", ident(m), f"{key}: a URL with a password"))
    return out


POLICIES: dict[str, Callable[[Sequence[Manifest]], list[Violation]]] = {
    "hardened-pods": hardened_pods,
    "resources-set": resources_set,
    "pinned-images": pinned_images,
    "residency-labels": residency_labels,
    "default-deny": default_deny,
    "no-shared-across-residency": no_shared_across_residency,
    "pdb-for-replicated": pdb_for_replicated,
    "tls-certificates": tls_certificates,
    "upload-limits": upload_limits,
    "turn-relays": turn_relays,
    "public-egress": public_egress,
    "migrations-once": migrations_once,
    "no-password-urls": no_password_urls,
}
