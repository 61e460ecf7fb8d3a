"""Schema validation of rendered manifests with kubernetes-validate (offline, shipped schemas).

kubernetes-validate ships the upstream OpenAPI schemas of Kubernetes 1.25-1.37 (strict variants
reject unknown fields); CRD kinds have no shipped schema, so they are listed in :data:`CRD_KINDS`
and reported as skipped rather than silently passed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kubernetes_validate import utils as kubernetes_validate
from kubernetes_validate.utils import SchemaNotFoundError, ValidationError, VersionNotSupportedError

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
    return list(kubernetes_validate.all_versions())


def check_schema(manifest: dict[str, Any], version: str) -> SchemaCheck:
    """Validate ``manifest`` strictly against Kubernetes ``version`` (e.g. ``1.31.0``)."""
    key = (manifest.get("apiVersion", ""), manifest.get("kind", ""))
    if key in CRD_KINDS:
        return SchemaCheck(version, skipped=f"no shipped schema ({CRD_KINDS[key]})")
    try:
        used = kubernetes_validate.validate(manifest, version, strict=True)
    except ValidationError as exc:
        path = ".".join(str(part) for part in exc.path) or "<root>"
        return SchemaCheck(exc.version, error=f"{path}: {exc.message}")
    except SchemaNotFoundError as exc:
        return SchemaCheck(version, error=exc.message)
    except VersionNotSupportedError:
        known = supported_versions()
        raise InfraError(
            f"infra.kubernetes_version {version}: no shipped schema "
            f"(kubernetes-validate has {known[0]}-{known[-1]})"
        ) from None
    return SchemaCheck(used)
