"""``pulumi up`` runs this (``Pulumi.yaml``: ``main: infra/``)."""

from infra.program import main

main()
