"""Cash flow: revenue at the phase's prices adds up to what the tariff must recover; NPV and break-even."""

from pathlib import Path

import pandas as pd
import pytest

from msgfleet.schema import load_plan
from sim.capacity import recovery_window
from sim.economics import break_even_day, npv, yearly
from sim.rollout import run_rollout

PLANS = Path(__file__).resolve().parents[2] / "rollout_plans"
DEV = PLANS / "dev-3-states.yaml"


@pytest.fixture(scope="module")
def result():
    return run_rollout(load_plan(DEV))


def _window_rows(flow: pd.DataFrame, k: int, tariff) -> pd.DataFrame:
    first, last = tariff.priced_over
    rows = flow[(flow.phase == k) & (flow.first_day >= first) & (flow.last_day <= last)]
    assert rows.first_day.min() == first and rows.last_day.max() == last
    return rows


def test_each_phase_earns_what_its_tariff_must_recover_over_its_window(result) -> None:
    flow = result.cash_flow
    for k, tariff in enumerate(result.tariffs, start=1):
        rows = _window_rows(flow, k, tariff)
        assert rows.revenue.sum() == pytest.approx(tariff.revenue_needed, rel=1e-9)
        costs = rows[["cost_fixed", "cost_variable", "cost_reserved"]].to_numpy().sum()
        assert costs == pytest.approx(tariff.cost, rel=1e-9)
    margin = result.plan.tariffs.margin
    within = pd.concat(_window_rows(flow, k, t) for k, t in enumerate(result.tariffs, start=1))
    assert within.net.sum() == pytest.approx(margin * sum(t.cost for t in result.tariffs), rel=1e-9)


def _with_economics(plan, **changes):
    return plan.model_copy(update={"economics": plan.economics.model_copy(update=changes)})


@pytest.fixture(scope="module")
def ru_result():
    return run_rollout(load_plan(PLANS / "ru-national.yaml"))


def test_recovery_windows_follow_the_horizon(ru_result) -> None:
    """ru-national: phases 1 and 2 (days 0-359) end inside the 5-year horizon and are priced over all
    their days; phase 3 (day 360 to 3649) over days 360 to the end of year 5 (day 1826)."""
    timeline = ru_result.timeline
    assert [recovery_window(timeline, k) for k in (1, 2, 3)] == [(0, 179), (180, 359), (360, 1826)]
    assert [t.priced_over for t in ru_result.tariffs] == [(0, 179), (180, 359), (360, 1826)]
    late = run_rollout(_with_economics(ru_result.plan, recovery_years=0.25))  # 92 days from launch
    windows = [recovery_window(late.timeline, k) for k in (1, 2, 3)]
    # phase 1 to the end of its slot holding day 91; 2 and 3 open later: their own first 92 days
    assert windows == [(0, 119), (180, 299), (360, 479)]


def test_cost_is_recovered_within_the_horizon(ru_result) -> None:
    rec = ru_result.recovery
    flow = ru_result.cash_flow
    assert rec.day == 1826 and rec.recovered and rec.unpriced_phases == []
    upto = flow[flow.last_day <= 1826]
    assert rec.cumulative_net == pytest.approx(upto.net.sum())
    margin = ru_result.plan.tariffs.margin
    assert rec.cumulative_net == pytest.approx(margin * sum(t.cost for t in ru_result.tariffs), rel=1e-9)
    assert ru_result.summary()["economics"]["recovery"]["recovered"] is True
    assert not any("recovery horizon" in w for w in ru_result.warnings())
    assert break_even_day(flow) <= rec.day


def test_a_shorter_horizon_prices_higher_and_breaks_even_sooner(ru_result) -> None:
    short = run_rollout(_with_economics(ru_result.plan, recovery_years=2))
    assert short.tariffs[2].priced_over == (360, 730)
    assert short.tariffs[2].price_per_1000_messages > ru_result.tariffs[2].price_per_1000_messages
    assert break_even_day(short.cash_flow) < break_even_day(ru_result.cash_flow)
    assert short.recovery.recovered and short.recovery.day == 730


def test_cost_no_price_can_recover_is_a_loud_warning(result) -> None:
    plan = result.plan
    free = plan.tariffs.model_copy(
        update={"free_messages_per_user_month": 1e9, "free_minutes_per_user_month": 1e9}
    )
    run = run_rollout(plan.model_copy(update={"tariffs": free}))
    rec = run.recovery
    assert not rec.recovered and rec.cumulative_net < 0
    assert rec.unpriced_phases == [p.name for p in run.timeline.phases]
    [line] = [w for w in run.warnings() if "recovery horizon" in w]
    assert line.startswith(
        f"cost not recovered within the {rec.years:g}-year recovery horizon: cumulative net -"
    )
    assert "no price recovers" in line


def test_slots_cover_every_day_once_and_years_add_up(result) -> None:
    flow = result.cash_flow
    days = (flow.last_day - flow.first_day + 1).sum()
    assert days == result.end_day - result.timeline.phases[0].start_day + 1
    table = yearly(flow)
    assert table.revenue.sum() == pytest.approx(flow.revenue.sum())
    assert set(table.year) == set(range(1, int(result.end_day / 365.25) + 2))


def test_npv_discounts_and_equals_the_sum_at_rate_zero(result) -> None:
    flow = result.cash_flow
    assert npv(flow, 0.0) == pytest.approx(flow.net.sum())
    assert npv(flow, 0.2) < npv(flow, 0.05) or flow.net.sum() <= 0


def test_break_even_is_after_the_last_dip_below_zero() -> None:
    flow = pd.DataFrame({"last_day": [29, 59, 89, 119], "cumulative_net": [-5.0, 1.0, -1.0, 3.0]})
    assert break_even_day(flow) == 119
    assert break_even_day(flow.assign(cumulative_net=[-1.0, -1.0, -1.0, -1.0])) is None
    assert break_even_day(flow.assign(cumulative_net=[1.0, 2.0, 3.0, 4.0])) == 29


def test_outcome_shows_reach_and_active_users_side_by_side(result) -> None:
    assert "reach" in result.outcome and "active users" in result.outcome
    summary = result.summary()
    assert summary["economics"]["break_even_day"] == break_even_day(result.cash_flow)
    assert 0 < summary["final"]["active_share"] <= summary["final"]["reach"]
