"""A rollout run: coverage and users per day, site sizing, tariffs and reservations per phase.

``run_rollout(plan)`` is the library entry point; ``write_rollout(result, out)`` writes
``rollout.csv``, ``sites.csv``, ``tariffs.csv``, ``cashflow.csv`` (per year and phase) and
``summary.json``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from msgfleet.schema import Plan
from msgfleet.sizing import channels_per_relay
from sim.capacity import (
    Reservation,
    SiteSizing,
    _reservations_of,
    phase_costs,
    recovery_window,
    sizings_of,
)
from sim.economics import Recovery, break_even_day, cash_flow, npv, recovery, yearly
from sim.siting import propose_phases
from sim.tariffs import Observed, Tariff, compute_tariffs
from sim.timeline import Timeline, build_timeline

__all__ = ["RolloutResult", "observe", "run_rollout", "write_rollout"]


@dataclass(frozen=True, eq=False)
class RolloutResult:
    plan: Plan
    timeline: Timeline
    daily: pd.DataFrame
    sizings: list[SiteSizing]
    tariffs: list[Tariff]
    reservations: dict[int, list[Reservation]]  # phase index (1-based) -> next phase's reservations
    target_day: int | None
    end_day: int
    cash_flow: pd.DataFrame  # per phase and 30-day slot (sim.economics)

    @property
    def recovery(self) -> Recovery:
        return recovery(self.plan, self.cash_flow, self.tariffs)

    @property
    def outcome(self) -> str:
        """The target line, with reach and active users side by side (reach is who *could* use it)."""
        metric = self.plan.coverage_metric
        if self.target_day is not None:
            row = self.daily.iloc[self.target_day]
            return (
                f"{metric} reached {self.plan.target_coverage:.0%} on day {self.target_day} "
                f"(reach {row['reach']:.1%}, active users {row['active_share']:.1%} of the population)"
            )
        row = self.daily.iloc[-1]
        return (
            f"horizon ended on day {self.end_day} before {metric} reached {self.plan.target_coverage:.0%} "
            f"(reach {row['reach']:.1%}, active users {row['active_share']:.1%})"
        )

    def warnings(self) -> list[str]:
        """One line per phase with sites whose pods are capped at ``max_pods`` or whose demand
        exceeds what their pods serve (utilisation > 1), naming the sites."""
        lines = []
        cap = self.plan.capacity.max_pods
        for k, phase in enumerate(self.timeline.phases, start=1):
            rows = [z for z in self.sizings if z.phase == k]
            capped = [z for z in rows if z.capped]
            over = [z for z in rows if z.over_capacity]
            where = f"phase {k} {phase.name} (day {self.timeline.window(k)[1]})"
            if capped:
                named = ", ".join(f"{z.state} {z.needed_pods}" for z in capped)
                lines.append(f"{where}: pods capped at max_pods {cap}; needed: {named}")
            if over:
                named = ", ".join(f"{z.state} {z.utilisation:.2f}" for z in over)
                lines.append(f"{where}: over capacity (busy-hour demand / capacity): {named}")
        per_relay = channels_per_relay(self.plan)
        if per_relay < self.plan.capacity.turn_channels_per_relay:
            low, high = self.plan.infra.turn_relay_ports
            last = max((z for z in self.sizings), key=lambda z: z.turn_relays, default=None)
            if last is not None and last.turn_relays > 1:
                lines.append(
                    f"relay ports {low}-{high} ({self.plan.infra.turn_exposure}) cap each TURN relay at "
                    f"{per_relay} channels, below turn_channels_per_relay "
                    f"{self.plan.capacity.turn_channels_per_relay}: {last.state} needs {last.turn_relays} "
                    f"relays in phase {last.phase}"
                )
        if self.timeline.partition is not None:
            lines.append(str(self.timeline.partition))
        unrecovered = self.recovery.warning(self.plan.prices.currency, break_even_day(self.cash_flow))
        if unrecovered is not None:
            lines.append(unrecovered)
        return lines

    def summary(self) -> dict:
        states = self.timeline.states
        last = self.daily.iloc[-1]
        return {
            "plan": self.plan.name,
            "country": self.plan.country,
            "national_population": states.national_population,
            "population_source": states.population_source,
            "target": self.plan.target_coverage,
            "metric": self.plan.coverage_metric,
            "residency": self.plan.residency,
            "target_day": self.target_day,
            "end_day": self.end_day,
            "outcome": self.outcome,
            "partition": None
            if self.timeline.partition is None
            else {
                "message": str(self.timeline.partition),
                "islands": self.timeline.partition.components,
            },
            "final": {k: float(last[k]) for k in ("reach", "active_users", "active_share", "coverage")},
            "warnings": self.warnings(),
            "phases": [
                {
                    "index": k,
                    "name": phase.name,
                    "start_day": phase.start_day,
                    "sites": phase.sites,
                    "capped_sites": [z.state for z in self.sizings if z.phase == k and z.capped],
                    "over_capacity_sites": [
                        z.state for z in self.sizings if z.phase == k and z.over_capacity
                    ],
                    "live_states": sorted(self.timeline.homes[k - 1]),
                    "homes": self.timeline.homes[k - 1],
                }
                for k, phase in enumerate(self.timeline.phases, start=1)
            ],
            "final_tariffs": self.tariffs[-1].record() if self.tariffs else None,
            "economics": {
                "currency": self.plan.prices.currency,
                "discount_rate": self.plan.economics.discount_rate,
                "npv": npv(self.cash_flow, self.plan.economics.discount_rate),
                "break_even_day": break_even_day(self.cash_flow),
                "recovery": self.recovery.record(),
                "years": yearly(self.cash_flow).to_dict(orient="records"),
            },
            "reservations": {str(k): [asdict(r) for r in v] for k, v in self.reservations.items()},
        }


def _daily(timeline: Timeline) -> pd.DataFrame:
    plan, states = timeline.plan, timeline.states
    live = np.isfinite(timeline.live_day)
    went_live = timeline.days[:, None] >= np.where(live, timeline.live_day, np.inf)[None, :]
    reach = (went_live * states.population[None, :]).sum(axis=1) / states.national_population
    active = timeline.users.sum(axis=1)
    demand = plan.demand
    sites_live = np.array([0] + [len(plan.live_sites(k)) for k in range(1, len(timeline.phases) + 1)])
    frame = pd.DataFrame(
        {
            "day": timeline.days,
            "phase": timeline.phase_of_day,
            "live_sites": sites_live[timeline.phase_of_day],
            "reach": reach,
            "active_users": active,
            "active_share": active / states.national_population,
            "coverage": reach if plan.coverage_metric == "reach" else active / states.national_population,
            "messages_per_day": active * demand.messages_per_user_day * (1 + demand.reply_ratio),
            "call_minutes_per_day": active * demand.call_minutes_per_user_day,
        }
    )
    return frame


def observe(timeline: Timeline, daily: pd.DataFrame) -> list[Observed]:
    """Use and cost of each phase over its recovery window (:func:`sim.capacity.recovery_window`):
    the daily series, and the sites re-sized monthly."""
    observed = []
    reply_share = timeline.plan.demand.reply_ratio / (1 + timeline.plan.demand.reply_ratio)
    for k, phase in enumerate(timeline.phases, start=1):
        first, last = recovery_window(timeline, k)
        rows = daily.iloc[first : last + 1]
        messages = float(rows["messages_per_day"].sum())
        observed.append(
            Observed(
                phase=phase.name,
                user_days=float(rows["active_users"].sum()),
                messages=messages,
                replies=messages * reply_share,
                call_minutes=float(rows["call_minutes_per_day"].sum()),
                **phase_costs(timeline, k, last_day=last),
                days=(first, last),
            )
        )
    return observed


def run_rollout(
    plan: Plan, stop_at_target: bool = False, failed_links: tuple[tuple[str, str], ...] = ()
) -> RolloutResult:
    """Simulate ``plan`` day by day over its horizon (or until the target, if ``stop_at_target``).

    A plan without phases gets proposed ones (sim.siting.propose_phases) first. ``failed_links``
    are cut from the backbone (a resulting partition is reported in the summary).
    """
    if not plan.phases:
        plan, _ = propose_phases(plan)
    timeline = build_timeline(plan, failed_links=failed_links)
    daily = _daily(timeline)
    reached = np.flatnonzero(daily["coverage"].to_numpy() >= plan.target_coverage - 1e-12)
    target_day = int(daily["day"].iloc[reached[0]]) if reached.size else None
    end_day = int(daily["day"].iloc[-1])
    if stop_at_target and target_day is not None:
        end_day = max(target_day, timeline.phases[-1].start_day)
        daily = daily.iloc[: end_day + 1]
        timeline = build_timeline(
            plan.model_copy(update={"horizon_days": max(end_day, 1)}), failed_links=failed_links
        )
    sizings = [z for k in range(1, len(timeline.phases) + 1) for z in sizings_of(timeline, k)]
    tariffs = compute_tariffs(plan, observe(timeline, daily))
    reservations = {k: _reservations_of(timeline, k) for k in range(1, len(timeline.phases) + 1)}
    flow = cash_flow(timeline, daily, tariffs)
    return RolloutResult(plan, timeline, daily, sizings, tariffs, reservations, target_day, end_day, flow)


def write_rollout(result: RolloutResult, out: str | Path) -> Path:
    """Write the run's CSVs and summary.json into ``out`` (created); return the directory."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    result.daily.to_csv(out / "rollout.csv", index=False, float_format="%.6g")
    reserved = {(r.state, k + 1): r for k, rs in result.reservations.items() for r in rs}
    site_rows = []
    for z in result.sizings:
        row = z.record()
        res = reserved.get((z.state, z.phase))
        row["reserved_pods"] = res.pods if res else 0
        row["reserved_node_pods"] = res.node_pods if res else 0
        row["reserved_turn_relays"] = res.turn_relays if res else 0
        row["reserved_turn_channels"] = res.turn_channels if res else 0
        site_rows.append(row)
    pd.DataFrame(site_rows).to_csv(out / "sites.csv", index=False, float_format="%.6g")
    pd.DataFrame([t.record() for t in result.tariffs]).to_csv(
        out / "tariffs.csv", index=False, float_format="%.6g"
    )
    yearly(result.cash_flow).to_csv(out / "cashflow.csv", index=False, float_format="%.6g")
    _states_frame(result).to_csv(out / "states.csv", index=False, float_format="%.6g")
    _links_frame(result).to_csv(out / "links.csv", index=False, float_format="%.6g")
    summary_path = out / "summary.json"
    summary = result.summary()
    if summary_path.exists():  # keep a latency run's section written into the same directory
        previous = json.loads(summary_path.read_text(encoding="utf-8"))
        if "latency" in previous:
            summary["latency"] = previous["latency"]
    summary_path.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return out


def _states_frame(result: RolloutResult) -> pd.DataFrame:
    """Per state: where it is, how many live there, the phase it went live in, its final home."""
    tl = result.timeline
    st = tl.states
    live_phase = np.zeros(len(st), dtype=int)
    for k in range(len(tl.phases), 0, -1):
        for state in tl.homes[k - 1]:
            live_phase[st.index(state)] = k
    final = tl.homes[-1]
    sites = {s for p in tl.phases for s in p.sites}
    return pd.DataFrame(
        {
            "state": st.ids,
            "name": st.names,
            "lat": st.lat,
            "lon": st.lon,
            "population": st.population,
            "live_phase": live_phase,
            "home_site": [final.get(s, "") for s in st.ids],
            "is_site": [s in sites for s in st.ids],
        }
    )


def _links_frame(result: RolloutResult) -> pd.DataFrame:
    from sim.topology import backbone

    graph = backbone(result.plan, result.timeline.states)
    return pd.DataFrame(
        [{"a": a, "b": b, **data} for a, b, data in sorted(graph.edges(data=True))],
        columns=["a", "b", "distance_km", "latency_ms", "kind"],
    )
