"""Manifest policies (plain validators); the Pulumi policy pack is built in ``__main__.py`` only."""

from infra.policy.checks import POLICIES, Manifest, Violation, ident

__all__ = ["POLICIES", "Manifest", "Violation", "ident"]
