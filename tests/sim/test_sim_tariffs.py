"""Tariffs: cost with margin over billable use beyond the free tier, by the plan mix."""

import pytest

from msgfleet.schema import Plan, Site, TariffPolicy, UsageSegment
from sim.tariffs import DAYS_PER_MONTH, Observed, billable_share, compute_tariffs


def _plan(**tariffs) -> Plan:
    return Plan(name="t", country="RU", sites=[Site(state="RU-MOW")], tariffs=TariffPolicy(**tariffs))


def _observed(**over) -> Observed:
    base = dict(
        phase="one",
        user_days=1000 * DAYS_PER_MONTH,  # 1,000 user-months
        messages=6_000_000.0,  # 6,000 per user-month
        replies=900_000.0,
        call_minutes=300_000.0,  # 300 per user-month
        cost_pods=1000.0,
        cost_turn=500.0,
        cost_storage=500.0,
        cost_fixed=2000.0,
    )
    return Observed(**(base | over))


def test_prices_recover_cost_with_margin_over_billable_use() -> None:
    plan = _plan(
        margin=0.25,
        free_minutes_per_user_month=100,
        free_messages_per_user_month=3000,
        plan_mix=[UsageSegment(name="all", share=1.0, usage_multiplier=1.0)],
    )
    (t,) = compute_tariffs(plan, [_observed()])
    # Billable: minutes 300-100 = 200 of 300 per user; messages 6000-3000 = 3000 of 6000.
    assert t.billable_minutes == pytest.approx(200_000)
    assert t.billable_messages == pytest.approx(3_000_000)
    # TURN carries 500 of 2000 variable cost, so a quarter of the fixed 2000.
    assert t.price_per_extra_minute == pytest.approx((500 + 500) * 1.25 / 200_000)
    assert t.price_per_1000_messages == pytest.approx((1000 + 500 + 1500) * 1.25 / 3_000_000 * 1000)
    revenue = (
        t.price_per_extra_minute * t.billable_minutes + t.price_per_1000_messages * t.billable_messages / 1000
    )
    assert revenue == pytest.approx(t.revenue_needed)
    assert t.recoverable


def test_free_tier_covering_all_use_cannot_recover_cost() -> None:
    plan = _plan(
        free_minutes_per_user_month=10_000, plan_mix=[UsageSegment(name="a", share=1.0, usage_multiplier=1)]
    )
    (t,) = compute_tariffs(plan, [_observed()])
    assert t.price_per_extra_minute is None and not t.recoverable


def test_heavy_segments_pay_even_when_the_mean_is_inside_the_free_tier() -> None:
    plan = _plan()  # default mix: 10% of users at 4x the mean
    mean = 50.0  # below the 100 free minutes
    assert billable_share(plan, mean, 100.0) == pytest.approx(0.1 * (4 * mean - 100) / mean)


def test_each_phase_is_priced_from_its_own_use() -> None:
    plan = _plan()
    light, heavy = compute_tariffs(plan, [_observed(phase="a"), _observed(phase="b", call_minutes=600_000.0)])
    assert heavy.price_per_extra_minute < light.price_per_extra_minute
