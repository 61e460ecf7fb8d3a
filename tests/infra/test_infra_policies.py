"""All manifests of every stack pass every policy."""

from __future__ import annotations

import pytest

from infra.policy import POLICIES
from infra.render import Rendering


@pytest.mark.parametrize("policy", sorted(POLICIES))
def test_stack_passes_policy(rendering: Rendering, policy: str) -> None:
    violations = POLICIES[policy]([m.manifest for m in rendering.manifests])
    assert not violations, "\n".join(f"{v.target}: {v.message}" for v in violations)
