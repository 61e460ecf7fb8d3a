"""Schema validation of rendered manifests against kubernetes-validate's shipped schemas (offline).

kubernetes-validate ships the upstream OpenAPI schemas of Kubernetes 1.25-1.37 (``-strict``
variants reject unknown fields). Its ``validate()`` re-reads the ~1 MB definitions file for every
manifest; we use its schema files and resolution rule but build each validator once (cached).
CRD kinds have no shipped schema: they are listed in :data:`CRD_KINDS` and reported as skipped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Any

import jsonschema
from jsonschema.exceptions import best_match
from kubernetes_validate import utils as kv
from packaging.version import Version
from referencing import Registry, Resource

from infra.errors import InfraError

CRD_KINDS = {
    ("postgresql.cnpg.io/v1", "Cluster"): "CloudNativePG CRD",
    ("monitoring.coreos.com/v1", "ServiceMonitor"): "Prometheus operator CRD",
}


@dataclass(frozen=True)
class SchemaCheck:
    """Outcome for one manifest: ``error`` None and ``skipped`` None means it validated."""

    version: str
    error: str | None = None
    skipped: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def supported_versions() -> list[str]:
    return list(kv.all_versions())


def schema_version(version: str) -> str:
    """The newest shipped schema not newer than ``version`` (kubernetes-validate's rule)."""
    wanted = Version(kv.major_minor(version.removeprefix("v")))
    usable = [v for v in supported_versions() if Version(kv.major_minor(v)) <= wanted]
    if not usable or wanted > Version(kv.major_minor(supported_versions()[-1])):
        known = supported_versions()
        raise InfraError(
            f"infra.kubernetes_version {version}: no shipped schema "
            f"(kubernetes-validate has {known[0]}-{known[-1]})"
        )
    return usable[-1]


@cache
def _definitions(schema_dir: str) -> Registry:
    defs = kv.schema_contents(f"kubernetes-json-schema/{schema_dir}/_definitions.json", schema_dir)
    return Resource.from_contents(defs) @ Registry()


@cache
def _validator(schema_dir: str, kind: str, api_version: str) -> jsonschema.protocols.Validator | None:
    # rbac.authorization.k8s.io/v1 -> rbac-v1, as kubernetes-validate names its files
    api = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    try:
        schema = kv.schema_contents(
            f"kubernetes-json-schema/{schema_dir}/{kind.lower()}-{api}.json", schema_dir
        )
    except FileNotFoundError:
        return None
    registry = Resource.from_contents(schema) @ _definitions(schema_dir)
    return jsonschema.Draft202012Validator(schema, registry=registry)


def check_schema(manifest: dict[str, Any], version: str) -> SchemaCheck:
    """Validate ``manifest`` strictly against Kubernetes ``version`` (e.g. ``1.31.0``)."""
    api, kind = manifest.get("apiVersion", ""), manifest.get("kind", "")
    used = schema_version(version)
    minor = kv.major_minor(used)
    if (api, kind) in CRD_KINDS:
        return SchemaCheck(minor, skipped=f"no shipped schema ({CRD_KINDS[(api, kind)]})")
    validator = _validator(f"v{used}-local-strict", kind, api)
    if validator is None:
        return SchemaCheck(minor, error=f"no schema for {kind} {api} in Kubernetes {minor}")
    error = best_match(validator.iter_errors(manifest))
    if error is not None:
        path = ".".join(str(part) for part in error.absolute_path) or "<root>"
        return SchemaCheck(minor, error=f"{path}: {error.message}")
    return SchemaCheck(minor)
