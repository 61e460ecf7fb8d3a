"""The ``rendering`` fixture: each stack rendered once per session (see rendered_stacks.py)."""

from __future__ import annotations

import pytest
from rendered_stacks import STACKS, rendered

from infra.render import Rendering


@pytest.fixture(params=STACKS)
def rendering(request: pytest.FixtureRequest) -> Rendering:
    """Each stack's rendering (cached for the session; do not mutate it)."""
    return rendered(request.param)
