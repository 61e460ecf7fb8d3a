"""Tariffs per phase from cost and observed use.

Each phase's cost (pods, TURN channels, storage, fixed site costs, from the plan's unit prices)
is split between the two things users pay for: call minutes carry the TURN cost, messages carry
pods and storage, and fixed site costs and the reservations held for the next phase's sites
(placeholder pods at ``prices.pod_month``) are shared in proportion to those. With the margin on top,
each share is divided by the *billable* use: what users use beyond the free tier. The plan mix
(``tariffs.plan_mix``) says how use spreads over users: a segment using ``m`` times the mean
pays for ``max(0, m·mean - free)`` per month. A phase whose use all fits in the free tier cannot
recover its cost from that item (price ``None``, ``recoverable`` false).

The simulator observes each phase over its recovery window (``economics.recovery_years``,
:func:`sim.capacity.recovery_window`), so the prices recover the window's cost over the window's
use; later days keep those prices. The calibration step calls :func:`compute_tariffs` with
measured use instead of simulated.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

from msgfleet.schema import Plan

__all__ = ["Observed", "Tariff", "billable_share", "compute_tariffs"]

DAYS_PER_MONTH = 365.25 / 12


@dataclass(frozen=True)
class Observed:
    """Use and cost of one phase (simulated by sim.rollout, or measured by load tests)."""

    phase: str
    user_days: float
    messages: float
    replies: float
    call_minutes: float
    cost_pods: float
    cost_turn: float
    cost_storage: float
    cost_fixed: float
    cost_reserved: float = 0.0  # placeholder pods held for the next phase's sites
    days: tuple[int, int] | None = None  # the days observed (sim: the phase's recovery window)

    @property
    def cost(self) -> float:
        return self.cost_pods + self.cost_turn + self.cost_storage + self.cost_fixed + self.cost_reserved


@dataclass(frozen=True)
class Tariff:
    phase: str
    currency: str
    cost: float
    cost_reserved: float  # of ``cost``: the next phase's reservations held through this phase
    revenue_needed: float
    messages: float
    replies: float
    call_minutes: float
    billable_messages: float
    billable_minutes: float
    price_per_extra_minute: float | None
    price_per_1000_messages: float | None
    recoverable: bool
    priced_over: tuple[int, int] | None = None  # days whose cost and use set the prices

    @property
    def per_message(self) -> float:
        """Revenue per message on average (the billable share at the price per message)."""
        share = self.billable_messages / self.messages if self.messages > 0 else 0.0
        return (self.price_per_1000_messages or 0.0) / 1000 * share

    @property
    def per_minute(self) -> float:
        """Revenue per call minute on average."""
        share = self.billable_minutes / self.call_minutes if self.call_minutes > 0 else 0.0
        return (self.price_per_extra_minute or 0.0) * share

    def record(self) -> dict[str, object]:
        return asdict(self)


def billable_share(plan: Plan, mean_per_user_month: float, free_per_user_month: float) -> float:
    """Share of total use that lies beyond the free tier, over the plan mix's segments."""
    if mean_per_user_month <= 0:
        return 0.0
    beyond = sum(
        seg.share * max(0.0, seg.usage_multiplier * mean_per_user_month - free_per_user_month)
        for seg in plan.tariffs.plan_mix
    )
    return beyond / mean_per_user_month


def _price(cost: float, billable: float) -> float | None:
    return cost / billable if billable > 0 else None


def compute_tariffs(plan: Plan, observed: Sequence[Observed]) -> list[Tariff]:
    """One tariff per observed phase: price per extra minute and per 1,000 extra messages."""
    policy, margin = plan.tariffs, 1 + plan.tariffs.margin
    tariffs = []
    for obs in observed:
        user_months = obs.user_days / DAYS_PER_MONTH
        monthly_minutes = obs.call_minutes / user_months if user_months > 0 else 0.0
        monthly_messages = obs.messages / user_months if user_months > 0 else 0.0
        billable_min = obs.call_minutes * billable_share(
            plan, monthly_minutes, policy.free_minutes_per_user_month
        )
        billable_msg = obs.messages * billable_share(
            plan, monthly_messages, policy.free_messages_per_user_month
        )
        variable = obs.cost_turn + obs.cost_pods + obs.cost_storage
        turn_share = obs.cost_turn / variable if variable > 0 else 0.5
        shared = obs.cost_fixed + obs.cost_reserved
        minutes_cost = (obs.cost_turn + shared * turn_share) * margin
        messages_cost = (obs.cost_pods + obs.cost_storage + shared * (1 - turn_share)) * margin
        per_minute = _price(minutes_cost, billable_min)
        per_message = _price(messages_cost, billable_msg)
        tariffs.append(
            Tariff(
                phase=obs.phase,
                currency=plan.prices.currency,
                cost=obs.cost,
                cost_reserved=obs.cost_reserved,
                revenue_needed=obs.cost * margin,
                messages=obs.messages,
                replies=obs.replies,
                call_minutes=obs.call_minutes,
                billable_messages=billable_msg,
                billable_minutes=billable_min,
                price_per_extra_minute=per_minute,
                price_per_1000_messages=None if per_message is None else per_message * 1000,
                recoverable=(per_minute is not None or minutes_cost == 0)
                and (per_message is not None or messages_cost == 0),
                priced_over=obs.days,
            )
        )
    return tariffs
