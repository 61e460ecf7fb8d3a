"""How big each site is: the shared rule (:mod:`msgfleet.sizing`) applied to the load the plan records.

infra/ has no traffic model (and may not import sim/): a site's busy-hour load is
``plan.infra.design_load[state]``, which the simulator writes (``msgfleet sim rollout --sized-plan``).
A state without one is sized from ``infra.design_users[state]`` with a flat federation share
(:func:`msgfleet.sizing.flat_share_load`); a state without either at zero load (``min_pods``, one
TURN relay). The rule itself is documented in docs/SIM.md.
"""

from __future__ import annotations

from msgfleet.schema import Plan, SiteLoad
from msgfleet.sizing import Reservation, SiteSize, flat_share_load, reservation, size_site


def planned_load(plan: Plan, state: str) -> SiteLoad:
    """The busy-hour load ``state``'s site is sized for (see the module docstring)."""
    plan.site(state)  # KeyError naming the state if it is not a site of the plan
    load = plan.infra.design_load.get(state)
    return load if load is not None else flat_share_load(plan, plan.infra.design_users.get(state, 0))


DESIGN_LOAD = "design_load"
DESIGN_USERS = "design_users (flat share)"
NO_LOAD = "NONE (min_pods)"


def sizing_source(plan: Plan, state: str) -> str:
    """Which of the module docstring's three sources sizes ``state``."""
    if state in plan.infra.design_load:
        return DESIGN_LOAD
    return DESIGN_USERS if state in plan.infra.design_users else NO_LOAD


def site_sizing(plan: Plan, state: str) -> SiteSize:
    """Size ``state``'s site from the plan's capacity and its planned load."""
    return size_site(plan, state, planned_load(plan, state))


def next_phase_sites(plan: Plan, phase: int) -> list[str]:
    """States the phase after ``phase`` opens (empty after the last phase)."""
    plan.live_sites(phase)  # IndexError naming the valid range
    return list(plan.phases[phase].sites) if phase < len(plan.phases) else []


def reservations(plan: Plan, phase: int) -> list[Reservation]:
    """What to reserve during ``phase`` for the sites of the next phase, in plan order."""
    return [reservation(plan, phase + 1, site_sizing(plan, s)) for s in next_phase_sites(plan, phase)]
