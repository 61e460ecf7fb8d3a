"""The node's own model of the tariff policy (``MSGFLEET_TARIFFS``), field for field the plan schema's.

``messenger`` may not import ``msgfleet``, so the rollout plan's ``tariffs`` section reaches the node as
JSON (``msgfleet.schema.TariffPolicy(...).model_dump_json()``) and is validated here;
``tests/messenger/test_tariff_json_from_plan.py`` keeps the two models in step. The module imports
nothing of the node (settings validate ``MSGFLEET_TARIFFS`` with it); ``billing.service.node_tariffs``
holds a running node's parsed policy.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

Rounding = Literal["per_second", "per_minute_up"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class UsageSegment(_Strict):
    """Carried for completeness (the simulator prices with it); the node does not use it."""

    name: str = Field(min_length=1)
    share: float = Field(gt=0, le=1)
    usage_multiplier: float = Field(ge=0)


class TariffPlan(_Strict):
    """One plan: a fee and an allowance per period (pooled over members), prices for use beyond it."""

    name: str = Field(min_length=1, max_length=40, pattern=r"^[a-z0-9_-]+$")
    kind: Literal["individual", "family", "business"] = "individual"
    max_members: int = Field(1, ge=1)
    monthly_fee: float = Field(0.0, ge=0)
    included_minutes: float | None = Field(None, ge=0)
    included_messages: float | None = Field(None, ge=0)
    price_per_extra_minute: float | None = Field(None, ge=0)
    price_per_1000_messages: float | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _individual_is_one(self) -> TariffPlan:
        if self.kind == "individual" and self.max_members != 1:
            raise ValueError(f"individual plan {self.name!r} must have max_members 1")
        return self

    @property
    def pooled(self) -> bool:
        return self.kind != "individual"


class TariffPolicy(_Strict):
    """The ``tariffs`` section of a rollout plan as the node bills by it."""

    margin: float = Field(0.2, ge=0)
    free_minutes_per_user_month: float = Field(100.0, ge=0)
    free_messages_per_user_month: float = Field(3000.0, ge=0)
    minute_rounding: Rounding = "per_minute_up"
    price_per_extra_minute: float | None = Field(None, ge=0)
    price_per_1000_messages: float | None = Field(None, ge=0)
    plan_mix: list[UsageSegment] = Field(default_factory=list)
    plans: list[TariffPlan] = Field(
        default_factory=lambda: [TariffPlan.model_validate({"name": "basic"})], min_length=1
    )

    @field_validator("plans")
    @classmethod
    def _unique_plan_names(cls, plans: list[TariffPlan]) -> list[TariffPlan]:
        names = [p.name for p in plans]
        if len(set(names)) != len(names):
            raise ValueError(f"plan names must be unique, got {names}")
        return plans

    @property
    def default_plan(self) -> TariffPlan:
        return self.plans[0]

    def plan(self, name: str) -> TariffPlan | None:
        return next((p for p in self.plans if p.name == name), None)


def parse_tariffs(text: str | None) -> TariffPolicy:
    """The policy in ``text`` (JSON), or the schema's defaults; ``ValueError`` names the bad field."""
    if text is None or not text.strip():
        return TariffPolicy.model_validate({})
    try:
        return TariffPolicy.model_validate_json(text)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "tariffs"
        raise ValueError(f"{where}: {str(err['msg']).removeprefix('Value error, ')}") from None
