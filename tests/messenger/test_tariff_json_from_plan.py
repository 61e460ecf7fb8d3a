"""The node accepts the tariff JSON the plan schema produces (the one test importing msgfleet and messenger).

``messenger`` may not import ``msgfleet``; a rollout plan's ``tariffs`` section reaches the node as
``MSGFLEET_TARIFFS`` JSON. If the two models drift apart, this test fails.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from messenger.billing.tariffs import parse_tariffs
from messenger.errors import MessengerConfigError
from messenger.settings import load_settings
from msgfleet.schema import TariffPlan, TariffPolicy, load_plan

PLANS = Path(__file__).resolve().parents[2] / "rollout_plans"


def test_default_policy_json_is_accepted_field_for_field() -> None:
    policy = TariffPolicy()
    node = parse_tariffs(policy.model_dump_json())
    assert node.model_dump() == policy.model_dump()
    assert load_settings(state="RU-MOW", tariffs=policy.model_dump_json()).tariffs == policy.model_dump_json()


def test_priced_family_and_business_plans_round_trip() -> None:
    policy = TariffPolicy(
        minute_rounding="per_second",
        price_per_extra_minute=0.9,
        price_per_1000_messages=12.0,
        plans=[
            TariffPlan(name="basic"),
            TariffPlan(name="family", kind="family", max_members=5, monthly_fee=299, included_minutes=1000),
            TariffPlan(name="business", kind="business", max_members=50, price_per_extra_minute=0.5),
        ],
    )
    assert parse_tariffs(policy.model_dump_json()).model_dump() == policy.model_dump()


@pytest.mark.parametrize("plan_file", sorted(PLANS.glob("*.yaml")), ids=lambda p: p.name)
def test_every_rollout_plan_tariffs_section_is_accepted(plan_file: Path) -> None:
    tariffs = load_plan(plan_file).tariffs
    assert parse_tariffs(tariffs.model_dump_json()).model_dump() == tariffs.model_dump()


def test_a_bad_tariff_setting_stops_the_node_with_one_line() -> None:
    with pytest.raises(MessengerConfigError, match=r"^setting tariffs \(MSGFLEET_TARIFFS\): plans"):
        load_settings(state="RU-MOW", tariffs='{"plans": []}')
