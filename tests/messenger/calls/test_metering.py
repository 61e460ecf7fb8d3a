"""Metering and bill arithmetic: periods, rounding across period boundaries, pooled allowances, money."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from messenger.billing.service import Pool, bill
from messenger.billing.tariffs import TariffPlan, TariffPolicy, parse_tariffs
from messenger.calls.metering import billable_minutes, period_bounds, period_of, split_leg


def ts(*args: int) -> float:
    return datetime(*args, tzinfo=UTC).timestamp()  # type: ignore[misc]


def test_periods_are_utc_calendar_months() -> None:
    assert period_of(ts(2026, 11, 30, 23, 59, 59)) == "2026-11"
    assert period_of(ts(2026, 12, 1)) == "2026-12"
    assert period_bounds("2026-12") == (ts(2026, 12, 1), ts(2027, 1, 1))
    assert period_bounds("2028-02") == (ts(2028, 2, 1), ts(2028, 3, 1))  # leap year: 29 days
    assert period_bounds("2028-02")[1] - period_bounds("2028-02")[0] == 29 * 86400


@pytest.mark.parametrize(
    ("seconds", "per_minute_up", "per_second"),
    [
        (0, 0, 0),
        (0.4, 1, 0.4 / 60),
        (60, 1, 1),
        (60.0000001, 1, 60.0000001 / 60),
        (61, 2, 61 / 60),
        (3599, 60, 3599 / 60),
    ],
)
def test_rounding_rules(seconds: float, per_minute_up: float, per_second: float) -> None:
    assert billable_minutes(seconds, "per_minute_up") == per_minute_up
    assert billable_minutes(seconds, "per_second") == pytest.approx(per_second)


def test_leg_across_a_month_boundary_is_split_and_rounded_once() -> None:
    midnight = ts(2026, 12, 1)
    parts = split_leg(midnight - 30, midnight + 120, "per_minute_up")
    assert parts == [("2026-11", 30.0, 1.0), ("2026-12", 120.0, 2.0)]  # 3 = ceil(150 / 60), not 1 + 2 + ...
    exact = split_leg(midnight - 30, midnight + 120, "per_second")
    assert [(p, s) for p, s, _ in exact] == [("2026-11", 30.0), ("2026-12", 120.0)]
    assert [m for _, _, m in exact] == pytest.approx([0.5, 2.0])


def test_leg_across_new_year_and_a_whole_month() -> None:
    parts = split_leg(ts(2026, 12, 31, 23, 0), ts(2027, 2, 1, 0, 0, 30), "per_minute_up")
    assert [p for p, _, _ in parts] == ["2026-12", "2027-01", "2027-02"]
    assert [s for _, s, _ in parts] == [3600.0, 31 * 86400.0, 30.0]
    assert [m for _, _, m in parts] == [60.0, 31 * 1440.0, 1.0]


@pytest.mark.parametrize("offset", [-90.5, -60, -59.9, -1, 0.0, 1, 59.9])
@pytest.mark.parametrize("length", [0.5, 59, 60, 61, 119.5, 3600.2])
def test_split_parts_add_up_to_the_unsplit_leg(offset: float, length: float) -> None:
    start = ts(2027, 3, 1) + offset
    parts = split_leg(start, start + length, "per_minute_up")
    assert sum(s for _, s, _ in parts) == pytest.approx(length)
    assert sum(m for _, _, m in parts) == billable_minutes(length, "per_minute_up")
    assert all(m >= 0 for _, _, m in parts)


def _use(minutes: float, messages: int) -> dict[str, float]:
    return {"minutes": minutes, "seconds": minutes * 60, "calls": 1, "messages": messages}


def test_individual_bill_charges_use_beyond_the_allowance() -> None:
    plan = TariffPlan(
        name="p",
        included_minutes=10,
        included_messages=1000,
        price_per_extra_minute=1.25,
        price_per_1000_messages=30,
        monthly_fee=199,
    )
    policy = TariffPolicy(plans=[plan])
    result = bill(policy, Pool("s1", plan, "u", ["u"]), {"u": _use(13, 1501)})
    assert (result["extra_minutes"], result["extra_messages"]) == (3, 501)
    assert result["minutes_charge"] == "3.75"
    assert result["messages_charge"] == "15.03"  # 501 × 30 / 1000
    assert result["total"] == "217.78" and result["priced"] is True


def test_pooled_allowance_defaults_to_the_free_tier_per_member_and_rounds_half_up() -> None:
    family = TariffPlan(name="f", kind="family", max_members=4)
    policy = TariffPolicy(
        free_minutes_per_user_month=100,
        free_messages_per_user_month=3000,
        price_per_extra_minute=0.5,
        price_per_1000_messages=0.01,
        plans=[family],
    )
    used = {"a": _use(150, 5000), "b": _use(70, 1000), "c": _use(0, 1500)}
    result = bill(policy, Pool("s", family, "a", ["a", "b", "c"]), used)
    assert (result["included_minutes"], result["included_messages"]) == (300, 9000)
    assert result["extra_minutes"] == 0 and result["total"] == "0.00"
    used["c"] = _use(81, 1500)  # pool: 301 minutes, 7500 messages
    result = bill(policy, Pool("s", family, "a", ["a", "b", "c"]), used)
    assert result["minutes_charge"] == "0.50" and result["messages_charge"] == "0.00"
    used["a"] = _use(150, 7000)  # pool 9500: 500 extra messages × 0.01 / 1000 = 0.005 → 0.01 (half up)
    assert bill(policy, Pool("s", family, "a", ["a", "b", "c"]), used)["messages_charge"] == "0.01"


def test_unpriced_policy_reports_use_without_inventing_a_price() -> None:
    policy = parse_tariffs(None)  # the plan schema's defaults: prices are set later by calibration
    result = bill(policy, Pool(None, policy.default_plan, "u", ["u"]), {"u": _use(101, 10)})
    assert result["extra_minutes"] == 1 and result["minutes_charge"] is None
    assert result["total"] is None and result["priced"] is False
    assert bill(policy, Pool(None, policy.default_plan, "u", ["u"]), {"u": _use(100, 10)})["total"] == "0.00"


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ('{"plans": []}', "plans"),
        ('{"minute_rounding": "per_hour"}', "minute_rounding"),
        ('{"plans": [{"name": "a"}, {"name": "a"}]}', "plans"),
        ('{"plans": [{"name": "a", "max_members": 3}]}', "plans.0"),
        ('{"bogus": 1}', "bogus"),
        ("{not json", "tariffs"),
    ],
)
def test_bad_tariffs_name_the_field(text: str, field: str) -> None:
    with pytest.raises(ValueError, match=rf"^{field}"):
        parse_tariffs(text)
