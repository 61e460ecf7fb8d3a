"""Each policy has a manifest it rejects: a rendered stack with one defect, named in the violation."""

from __future__ import annotations

import copy
from collections.abc import Callable

import pytest
from rendered_stacks import rendered

from infra.policy import POLICIES, Manifest, ident


def _find(manifests: list[Manifest], kind: str, name: str, state: str = "RU-MOW") -> Manifest:
    for m in manifests:
        labels = m["metadata"].get("labels", {})
        if m["kind"] == kind and m["metadata"]["name"] == name and labels.get("msgfleet.io/state") == state:
            return m
    raise AssertionError(f"no {kind}/{name} of {state}")


def _container(ms: list[Manifest]) -> dict:
    return _find(ms, "Deployment", "node")["spec"]["template"]["spec"]["containers"][0]


def _root(ms: list[Manifest]) -> Manifest:
    _container(ms)["securityContext"]["readOnlyRootFilesystem"] = False
    return _find(ms, "Deployment", "node")


def _no_limits(ms: list[Manifest]) -> Manifest:
    del _container(ms)["resources"]["limits"]
    return _find(ms, "Deployment", "node")


def _latest(ms: list[Manifest]) -> Manifest:
    _container(ms)["image"] = "ghcr.io/msgfleet/node:latest"
    return _find(ms, "Deployment", "node")


def _unlabelled(ms: list[Manifest]) -> Manifest:
    secret = _find(ms, "Secret", "node-secrets")
    del secret["metadata"]["labels"]["msgfleet.io/residency"]
    return secret


def _no_deny(ms: list[Manifest]) -> Manifest:
    ms.remove(_find(ms, "NetworkPolicy", "default-deny"))
    return next(m for m in ms if m["kind"] == "Namespace" and m["metadata"]["name"] == "msgfleet-ru-mow")


def _shared_secret(ms: list[Manifest]) -> Manifest:
    mow = _find(ms, "Secret", "turn-secret", "RU-MOW")
    spe = _find(ms, "Secret", "turn-secret", "RU-SPE")
    spe["stringData"]["static-auth-secret"] = mow["stringData"]["static-auth-secret"]
    return spe


def _no_pdb(ms: list[Manifest]) -> Manifest:
    ms.remove(_find(ms, "PodDisruptionBudget", "node"))
    return _find(ms, "Deployment", "node")


def _self_signed_default(ms: list[Manifest]) -> Manifest:
    ingress = _find(ms, "Ingress", "node")
    del ingress["metadata"]["annotations"]["cert-manager.io/cluster-issuer"]
    return ingress


def _default_body_size(ms: list[Manifest]) -> Manifest:
    ingress = _find(ms, "Ingress", "node")
    del ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-body-size"]
    return ingress


def _tcp_relay(ms: list[Manifest]) -> Manifest:
    turn = _find(ms, "Deployment", "turn")
    turn["spec"]["template"]["spec"]["containers"][0]["args"].remove("--no-tcp-relay")
    return turn


def _metadata_reachable(ms: list[Manifest]) -> Manifest:
    egress = _find(ms, "NetworkPolicy", "turn-egress")
    egress["spec"]["egress"][0]["to"][0]["ipBlock"]["except"].remove("169.254.0.0/16")
    return egress


def _job_on_old_image(ms: list[Manifest]) -> Manifest:
    job = next(m for m in ms if m["kind"] == "Job" and m["metadata"]["namespace"] == "msgfleet-ru-mow")
    job["spec"]["template"]["spec"]["containers"][0]["image"] = "ghcr.io/msgfleet/node:0.0.9"
    return job


def _password_in_url(ms: list[Manifest]) -> Manifest:
    env = _container(ms)["env"]
    url = next(e for e in env if e["name"] == "MSGFLEET_DATABASE_URL")
    url["value"] = url["value"].replace("msgfleet@", "msgfleet:hunter2@")
    return _find(ms, "Deployment", "node")


DEFECTS: dict[str, Callable[[list[Manifest]], Manifest]] = {
    "hardened-pods": _root,
    "resources-set": _no_limits,
    "pinned-images": _latest,
    "residency-labels": _unlabelled,
    "default-deny": _no_deny,
    "no-shared-across-residency": _shared_secret,
    "pdb-for-replicated": _no_pdb,
    "tls-certificates": _self_signed_default,
    "upload-limits": _default_body_size,
    "turn-relays": _tcp_relay,
    "public-egress": _metadata_reachable,
    "migrations-once": _job_on_old_image,
    "no-password-urls": _password_in_url,
}


def test_every_policy_has_a_defect() -> None:
    assert sorted(DEFECTS) == sorted(POLICIES)


@pytest.mark.parametrize("policy", sorted(DEFECTS))
def test_policy_rejects_its_defect(policy: str) -> None:
    manifests = copy.deepcopy([m.manifest for m in rendered("dev").manifests])
    assert not POLICIES[policy](manifests), "the clean rendering must pass first"
    target = DEFECTS[policy](manifests)
    violations = POLICIES[policy](manifests)
    assert ident(target) in {v.target for v in violations}, f"{policy} missed {ident(target)}: {violations}"


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda spec: spec.update(hostNetwork=True), "host network"),
        (lambda spec: spec.update(volumes=[{"name": "h", "hostPath": {"path": "/srv"}}]), "hostPath"),
        (lambda spec: spec.update(automountServiceAccountToken=True), "automountServiceAccountToken"),
    ],
)
def test_host_access_is_rejected(change: Callable[[dict], None], words: str) -> None:
    manifests = copy.deepcopy([m.manifest for m in rendered("dev").manifests])
    node = _find(manifests, "Deployment", "node")
    change(node["spec"]["template"]["spec"])
    messages = [v.message for check in POLICIES.values() for v in check(manifests) if v.target == ident(node)]
    assert any(words in m for m in messages), messages
