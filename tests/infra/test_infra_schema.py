"""Every rendered manifest validates (strict: unknown fields are errors) against the Kubernetes
schema of the plan's version; CRD kinds without a shipped schema are the only ones skipped."""

from __future__ import annotations

import copy

from infra.render import Rendering
from infra.validate import CRD_KINDS, check_schema, supported_versions


def test_all_manifests_validate(rendering: Rendering) -> None:
    failures = {path: check.error for path, check in rendering.schema.items() if check.error}
    assert not failures, f"schema failures: {failures}"
    assert rendering.schema, "nothing was validated"


def test_only_crds_are_skipped(rendering: Rendering) -> None:
    for item in rendering.manifests:
        check = rendering.schema[item.path]
        is_crd = (item.manifest["apiVersion"], item.manifest["kind"]) in CRD_KINDS
        assert bool(check.skipped) == is_crd, f"{item.path}: skipped={check.skipped}"


def test_schema_check_rejects_bad_manifests(rendering: Rendering) -> None:
    version = rendering.plan.infra.kubernetes_version
    minor = ".".join(version.split(".")[:2])
    assert any(v.startswith(f"{minor}.") for v in supported_versions()), f"no shipped schema for {version}"
    node = next(m.manifest for m in rendering.manifests if m.manifest["kind"] == "Deployment")
    typo = copy.deepcopy(node)
    typo["spec"]["replica"] = 2  # strict schemas reject unknown fields
    assert check_schema(typo, version).error
    wrong_type = copy.deepcopy(node)
    wrong_type["spec"]["replicas"] = "two"
    assert "replicas" in (check_schema(wrong_type, version).error or "")


def test_versions_outside_the_shipped_schemas_are_refused() -> None:
    import pytest

    from infra.errors import InfraError
    from infra.validate import schema_version

    newest = supported_versions()[-1]
    assert schema_version(newest) == newest
    major, minor = (int(x) for x in newest.split(".")[:2])
    with pytest.raises(InfraError, match="no shipped schema"):
        schema_version(f"{major}.{minor + 1}.0")
    with pytest.raises(InfraError, match="no shipped schema"):
        schema_version("1.9.0")
