"""Cash flow of a rollout: revenue and costs per phase and year, break-even day and NPV.

Revenue in each 30-day slot is the slot's billable use (use beyond the free tier, the phase's
share from :mod:`sim.tariffs`) at the phase's prices, so a phase's revenue adds up to its
``revenue_needed`` (cost × (1 + margin)); costs are the slots of :func:`sim.capacity.phase_slots`
(fixed site costs, variable pods / TURN / storage, and the reservations held for the next phase).
The NPV discounts each slot's net at ``plan.economics.discount_rate`` per year from day 0 (to the
slot's middle day); the break-even day is the last day of the first slot from which the
cumulative net stays at or above zero. :func:`recovery` says whether the cumulative net is at or
above zero at the end of ``economics.recovery_years`` from launch (the run's last day if sooner):
the tariffs recover each phase's cost over its recovery window, so it fails when a price cannot be
set (all use within the free tier) or the prices were not set from this run's windows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from msgfleet.schema import Plan
from sim.capacity import phase_slots
from sim.tariffs import Tariff
from sim.timeline import DAYS_PER_YEAR, Timeline

__all__ = ["Recovery", "break_even_day", "cash_flow", "npv", "recovery", "yearly"]


def cash_flow(timeline: Timeline, daily: pd.DataFrame, tariffs: Sequence[Tariff]) -> pd.DataFrame:
    """Per phase and 30-day slot: revenue, fixed / variable / reservation costs and net."""
    frames = []
    for k, tariff in enumerate(tariffs, start=1):
        slots = phase_slots(timeline, k)
        day = daily.set_index("day")
        messages = np.array(
            [
                day.loc[a:b, "messages_per_day"].sum()
                for a, b in zip(slots.first_day, slots.last_day, strict=True)
            ]
        )
        minutes = np.array(
            [
                day.loc[a:b, "call_minutes_per_day"].sum()
                for a, b in zip(slots.first_day, slots.last_day, strict=True)
            ]
        )
        frames.append(
            pd.DataFrame(
                {
                    "phase": k,
                    "phase_name": tariff.phase,
                    "first_day": slots.first_day,
                    "last_day": slots.last_day,
                    "year": (slots.first_day / DAYS_PER_YEAR).astype(int) + 1,
                    "revenue": messages * tariff.per_message + minutes * tariff.per_minute,
                    "cost_fixed": slots.cost_fixed,
                    "cost_variable": slots.cost_pods + slots.cost_turn + slots.cost_storage,
                    "cost_reserved": slots.cost_reserved,
                }
            )
        )
    flow = pd.concat(frames, ignore_index=True)
    flow["net"] = flow.revenue - flow.cost_fixed - flow.cost_variable - flow.cost_reserved
    flow["cumulative_net"] = flow.net.cumsum()
    return flow


def yearly(flow: pd.DataFrame) -> pd.DataFrame:
    """The cash flow per year and phase (a phase that starts mid-year has its own row)."""
    money = ["revenue", "cost_fixed", "cost_variable", "cost_reserved", "net"]
    table = flow.groupby(["year", "phase", "phase_name"], as_index=False)[money].sum()
    table["revenue_over_fixed"] = table.revenue / table.cost_fixed.where(table.cost_fixed > 0)
    return table


def npv(flow: pd.DataFrame, rate: float) -> float:
    """Net present value of the slots' net at an annual ``rate`` (discounted to day 0)."""
    middle = (flow.first_day + flow.last_day) / 2 / DAYS_PER_YEAR
    return float((flow.net / (1 + rate) ** middle).sum())


def break_even_day(flow: pd.DataFrame) -> int | None:
    """Last day of the first slot after which the cumulative net never falls below zero."""
    below = np.flatnonzero(flow.cumulative_net.to_numpy() < 0)
    if below.size == len(flow):
        return None
    after = 0 if below.size == 0 else below[-1] + 1
    return None if after >= len(flow) else int(flow.last_day.iloc[after])


@dataclass(frozen=True)
class Recovery:
    """Whether the cost is recovered by the end of the recovery horizon."""

    years: float
    day: int  # the day checked: the horizon's last day, or the run's if sooner
    cumulative_net: float  # on ``day``
    recovered: bool
    unpriced_phases: list[str]  # phases whose cost no price can recover (use within the free tier)

    def record(self) -> dict[str, object]:
        return asdict(self)

    def line(self, currency: str) -> str:
        verdict = "recovered" if self.recovered else "NOT recovered"
        return (
            f"recovery horizon {self.years:g} years: cost {verdict} by day {self.day} "
            f"(cumulative net {self.cumulative_net:,.0f} {currency})"
        )

    def warning(self, currency: str, break_even: int | None) -> str | None:
        if self.recovered:
            return None
        when = f"break-even day {break_even}" if break_even is not None else "no break-even within the run"
        unpriced = f"; no price recovers {', '.join(self.unpriced_phases)}" if self.unpriced_phases else ""
        return (
            f"cost not recovered within the {self.years:g}-year recovery horizon: cumulative net "
            f"{self.cumulative_net:,.0f} {currency} on day {self.day} ({when}){unpriced}"
        )


def recovery(plan: Plan, flow: pd.DataFrame, tariffs: Sequence[Tariff]) -> Recovery:
    """The cumulative net at the end of the recovery horizon (or of the run, if sooner)."""
    years = plan.economics.recovery_years
    day = min(int(np.ceil(years * DAYS_PER_YEAR)) - 1, int(flow.last_day.max()))
    upto = flow[flow.last_day <= day]
    net = float(upto.cumulative_net.iloc[-1]) if len(upto) else 0.0
    cost = float((upto.cost_fixed + upto.cost_variable + upto.cost_reserved).sum())
    unpriced = [t.phase for t in tariffs if not t.recoverable]
    # Revenue equals cost × (1 + margin) over each window; allow rounding, not a shortfall.
    return Recovery(years, day, net, net >= -1e-9 * max(cost, 1.0) and not unpriced, unpriced)
