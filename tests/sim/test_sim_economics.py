"""Cash flow: revenue at the phase's prices adds up to what the tariff must recover; NPV and break-even."""

from pathlib import Path

import pandas as pd
import pytest

from msgfleet.schema import load_plan
from sim.economics import break_even_day, npv, yearly
from sim.rollout import run_rollout

DEV = Path(__file__).resolve().parents[2] / "rollout_plans" / "dev-3-states.yaml"


@pytest.fixture(scope="module")
def result():
    return run_rollout(load_plan(DEV))


def test_each_phase_earns_what_its_tariff_must_recover(result) -> None:
    flow = result.cash_flow
    for k, tariff in enumerate(result.tariffs, start=1):
        rows = flow[flow.phase == k]
        assert rows.revenue.sum() == pytest.approx(tariff.revenue_needed, rel=1e-9)
        costs = rows[["cost_fixed", "cost_variable", "cost_reserved"]].to_numpy().sum()
        assert costs == pytest.approx(tariff.cost, rel=1e-9)
    margin = result.plan.tariffs.margin
    assert flow.net.sum() == pytest.approx(margin * sum(t.cost for t in result.tariffs), rel=1e-9)


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
