"""The policy pack's stack validations report each violation on the offending resource's URN."""

from __future__ import annotations

import copy
from types import SimpleNamespace

from pulumi_policy import StackValidationPolicy
from rendered_stacks import rendered

from infra.policy import POLICIES
from infra.policy.pack import validators
from infra.stack import ROOT


def _stack_args(latest: bool) -> SimpleNamespace:
    resources = []
    for item in rendered("dev").manifests:
        props = copy.deepcopy(item.manifest)
        if latest and props["kind"] == "Deployment" and props["metadata"]["name"] == "node":
            props["spec"]["template"]["spec"]["containers"][0]["image"] = "ghcr.io/msgfleet/node:latest"
        urn = f"urn:pulumi:dev::msgfleet::{item.typ}::{item.name}"
        resources.append(SimpleNamespace(resource_type=item.typ, props=props, urn=urn))
    return SimpleNamespace(resources=resources)


def test_one_stack_validation_per_policy() -> None:
    policies = [
        StackValidationPolicy(name=v.name, description=v.description, validate=v.validate)
        for v in validators()
    ]
    assert sorted(p.name for p in policies) == sorted(POLICIES)
    main = (ROOT / "infra" / "policy" / "__main__.py").read_text()
    assert "PolicyPack(" in main and (ROOT / "infra" / "policy" / "PulumiPolicy.yaml").exists()


def test_violations_are_reported_on_the_resource_urn() -> None:
    reports: list[tuple[str, str | None]] = []
    clean = _stack_args(latest=False)
    for v in validators():
        v.validate(clean, lambda message, urn=None: reports.append((message, urn)))
    assert reports == []
    bad = _stack_args(latest=True)
    pinned = next(v for v in validators() if v.name == "pinned-images")
    pinned.validate(bad, lambda message, urn=None: reports.append((message, urn)))
    assert len(reports) == 2  # RU-MOW and RU-SPE
    urns = sorted(urn or "" for _, urn in reports)
    assert urns == [
        "urn:pulumi:dev::msgfleet::kubernetes:apps/v1:Deployment::ru-mow-deployment-node",
        "urn:pulumi:dev::msgfleet::kubernetes:apps/v1:Deployment::ru-spe-deployment-node",
    ], reports
