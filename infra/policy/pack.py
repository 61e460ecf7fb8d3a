"""Adapters from the plain policies to Pulumi stack validations (no ``pulumi_policy`` import here).

Each validator receives the stack's resources (``resource_type``, ``props``, ``urn``), checks the
Kubernetes ones as manifests and reports every violation on the offending resource's URN.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from infra.policy.checks import POLICIES, Manifest, Violation, ident

Report = Callable[[str, str | None], None]


@dataclass(frozen=True)
class StackValidator:
    name: str
    description: str
    validate: Callable[[Any, Report], None]


def manifests_of(resources: Sequence[Any]) -> dict[str, Manifest]:
    """``ident -> manifest`` of the Kubernetes resources of a stack, keyed back to their URNs."""
    result = {}
    for resource in resources:
        props = dict(resource.props)
        if resource.resource_type.startswith("kubernetes:") and "kind" in props and "metadata" in props:
            result[resource.urn] = props
    return result


def _validator(check: Callable[[Sequence[Manifest]], list[Violation]]) -> Callable[[Any, Report], None]:
    def validate(args: Any, report_violation: Report) -> None:
        by_urn = manifests_of(args.resources)
        urn_of = {ident(m): urn for urn, m in by_urn.items()}
        for violation in check(list(by_urn.values())):
            report_violation(f"{violation.target}: {violation.message}", urn_of.get(violation.target))

    return validate


def validators() -> list[StackValidator]:
    """One stack validation per policy, named as the policy (kebab case, as Pulumi asks)."""
    return [
        StackValidator(name, (check.__doc__ or name).strip().splitlines()[0], _validator(check))
        for name, check in sorted(POLICIES.items())
    ]
