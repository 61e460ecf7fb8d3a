"""Pure builders of a site's Kubernetes manifests (plain dicts, testable without the Pulumi engine).

Values that only exist at deployment time (generated secrets, peers' public keys) come in as
``pulumi.Input`` values and are placed as they are; the components in :mod:`infra.components`
hand the dicts to pulumi-kubernetes.
"""
