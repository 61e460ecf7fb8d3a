"""The Pulumi policy pack: ``pulumi preview --policy-pack infra/policy`` (PulumiPolicy.yaml here)."""

from pulumi_policy import EnforcementLevel, PolicyPack, StackValidationPolicy

from infra.policy.pack import validators

PolicyPack(
    name="msgfleet-manifests",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=[
        StackValidationPolicy(name=v.name, description=v.description, validate=v.validate)
        for v in validators()
    ],
)
