"""The rollout-plan schema shared by sim/, loadtests/, infra/ and charts/ (one copy, here).

Load a plan with :func:`load_plan`; every error names the file, the line and the field.
"""

from msgfleet.schema.loader import PlanError, dump_plan, load_plan, parse_plan
from msgfleet.schema.plan import (
    SLO,
    Adoption,
    Calibration,
    Calls,
    Capacity,
    Demand,
    InfraSettings,
    KneeSearch,
    LatencySim,
    Link,
    LoadTestMix,
    Network,
    Operators,
    Phase,
    Plan,
    Population,
    Site,
    SiteLoad,
    TariffPlan,
    TariffPolicy,
    UnitPrices,
    UsageSegment,
)
from msgfleet.schema.states import StateId, state_name, validate_state_id

__all__ = [
    "SLO",
    "Adoption",
    "Calibration",
    "Calls",
    "Capacity",
    "Demand",
    "InfraSettings",
    "KneeSearch",
    "LatencySim",
    "Link",
    "LoadTestMix",
    "Network",
    "Operators",
    "Phase",
    "Plan",
    "PlanError",
    "Population",
    "Site",
    "SiteLoad",
    "StateId",
    "TariffPlan",
    "TariffPolicy",
    "UnitPrices",
    "UsageSegment",
    "dump_plan",
    "load_plan",
    "parse_plan",
    "state_name",
    "validate_state_id",
]
