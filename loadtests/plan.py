"""What the load tests read from a rollout plan."""

from __future__ import annotations

from pathlib import Path

from loadtests.errors import LoadTestError
from msgfleet.schema import Plan, load_plan


def phase_states(plan: Plan | str | Path, phase: int) -> list[str]:
    """The states live in ``phase`` (1-based) of a plan, or a one-line error naming the plan."""
    plan = plan if isinstance(plan, Plan) else load_plan(plan)
    if not plan.phases:
        return [site.state for site in plan.sites]
    try:
        return plan.live_sites(phase)
    except IndexError as exc:
        raise LoadTestError(f"--phase {phase}: {exc}") from None
