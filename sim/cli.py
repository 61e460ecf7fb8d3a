"""Simulation commands: ``msgfleet sim plan|rollout|latency``.

Commands parse arguments, call library code and write files; heavy imports stay inside them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from msgfleet.schema import Plan

app = typer.Typer(no_args_is_help=True)

PLAN_HELP = "Rollout plan YAML (rollout_plans/...)."
OUT_HELP = "Output directory (created)."
STRICT_HELP = "Exit non-zero (2) when the run has warnings (overloads, capped pods, missed SLOs)."
FAIL_HELP = "Cut a backbone link before simulating, as A:B (repeatable), e.g. RU-MOW:RU-TVE."


def _check_phases(plan: Plan, phases: list[int] | None, flag: str = "--phase") -> None:
    from sim.errors import SimError

    n = len(plan.phases)
    for k in (phases or []) if n else []:  # a plan without phases gets proposed ones (run_rollout)
        if not 1 <= k <= n:
            raise SimError(f"{flag} {k}: plan {plan.name!r} has phases 1..{n}")


def _check_load(value: float | None, flag: str) -> None:
    import math

    from sim.errors import SimError

    if value is not None and not (value > 0 and math.isfinite(value)):
        raise SimError(f"{flag} {value:g}: a national busy-hour load in messages/s, > 0 and finite")


def _warn(warnings: list[str], strict: bool) -> None:
    """Print each warning as one line on stderr; with ``--strict`` they fail the command."""
    import sys

    from sim.errors import SimError

    for line in warnings:
        print(f"warning: {line}", file=sys.stderr)
    if strict and warnings:
        raise SimError(f"--strict: {len(warnings)} warning(s), see above")


def _links(specs: list[str] | None) -> tuple[tuple[str, str], ...]:
    from sim.errors import SimError

    pairs = []
    for spec in specs or []:
        a, sep, b = spec.partition(":")
        if not sep or not a or not b:
            raise SimError(f"--fail-link {spec!r}: write it as STATE:STATE, e.g. RU-MOW:RU-TVE")
        pairs.append((a.strip().upper(), b.strip().upper()))
    return tuple(pairs)


# The plan field each `sim plan` flag sets, so a refused value names the flag.
_FLAGS = {
    "target_coverage": "--target",
    "residency": "--residency",
    "slo": "--max-rtt-ms",
    "sites": "--candidates",
    "country": "--country",
}


def _draft_plan(data: dict, flags: dict[str, object]) -> Plan:
    """Validate a plan built from flags; a refused value is one line naming its flag."""
    from pydantic import ValidationError

    from msgfleet.schema import Plan
    from sim.errors import SimError

    try:
        return Plan.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        loc = tuple(error["loc"])
        field = str(loc[0]) if loc else ""
        flag = _FLAGS.get(field, "--base" if field else "flags")
        message = error["msg"].removeprefix("Value error, ")
        where = ".".join(str(part) for part in loc)
        value = flags.get(flag)
        shown = f" {value!r}" if value is not None else ""
        raise SimError(f"{flag}{shown}: {where}: {message}") from None


@app.command("plan")
def plan_cmd(
    out: Annotated[Path, typer.Option(help="Where to write the proposed plan (YAML).")],
    country: Annotated[str, typer.Option(help="ISO 3166-1 alpha-2 country code.")] = "RU",
    target: Annotated[float, typer.Option(help="Share of the national population to reach.")] = 0.6,
    max_rtt_ms: Annotated[float, typer.Option(help="Latency SLO: client to home-site round trip.")] = 60.0,
    residency: Annotated[str, typer.Option(help="home_state or national.")] = "home_state",
    candidates: Annotated[str, typer.Option(help="Comma-separated candidate states (default: all).")] = "",
    base: Annotated[Path | None, typer.Option(help="Take demand, prices, site costs from this plan.")] = None,
    phases: Annotated[int, typer.Option(min=1, help="Split the chosen sites into this many phases.")] = 3,
    phase_days: Annotated[int, typer.Option(min=1, help="Days between phase starts.")] = 180,
    population: Annotated[
        Path | None, typer.Option(help="Population table CSV (iso_3166_2,population); default: shipped.")
    ] = None,
    geonames_estimate: Annotated[
        bool, typer.Option(help="Accept GeoNames place sums for a country without an official table.")
    ] = False,
) -> None:
    """Choose sites and a phase order that reach the target with the fewest / cheapest sites."""
    import pycountry
    from rich.console import Console

    from msgfleet.schema import dump_plan, load_plan
    from sim.errors import SimError
    from sim.geography import load_states
    from sim.siting import propose_phases

    code = country.strip().upper()
    if pycountry.countries.get(alpha_2=code) is None:
        raise SimError(f"--country {country!r}: not an ISO 3166-1 alpha-2 country code (e.g. RU, US)")
    if not 0 < target <= 1:
        raise SimError(f"--target {target:g}: a share of the population, in (0, 1] (e.g. 0.6)")
    if residency not in ("home_state", "national"):
        raise SimError(f"--residency {residency!r}: choose home_state or national")
    if not max_rtt_ms > 0 or max_rtt_ms == float("inf"):
        raise SimError(f"--max-rtt-ms {max_rtt_ms:g}: a round trip in ms, > 0 and finite")
    template: dict = {}
    known_sites: dict[str, dict] = {}
    if base is not None:
        template = load_plan(base).model_dump(exclude={"phases", "name", "country"})
        known_sites = {s["state"]: s for s in template.pop("sites")}
    people = template.get("population", {})
    table = str(population) if population is not None else people.get("table")
    estimate = geonames_estimate or people.get("geonames_estimate", False)
    states = load_states(code, table, estimate)
    chosen = [c.strip().upper() for c in candidates.split(",") if c.strip()] or list(states.ids)
    unknown = [c for c in chosen if c not in states.ids]
    if unknown:
        raise SimError(
            f"--candidates: {', '.join(unknown)} not among the {len(states)} states of {code} "
            f"(ISO 3166-2 codes such as {states.ids[0]})"
        )
    slo = {**template.get("slo", {}), "max_rtt_ms": max_rtt_ms}
    draft = _draft_plan(
        {
            **template,
            "name": f"{code.lower()}-proposed",
            "country": code,
            "target_coverage": target,
            "residency": residency,
            "slo": slo,
            "population": {"table": table, "geonames_estimate": estimate},
            "sites": [known_sites.get(s, {"state": s}) for s in chosen],
        },
        {"--target": target, "--residency": residency, "--max-rtt-ms": max_rtt_ms, "--country": country},
    )
    last_start = (min(phases, len(chosen)) - 1) * phase_days
    if last_start > draft.horizon_days:
        raise SimError(
            f"--phases {phases} --phase-days {phase_days}: the last phase would start on day "
            f"{last_start}, after the plan's horizon ({draft.horizon_days} days)"
        )
    proposed, selection = propose_phases(draft, n_phases=phases, phase_days=phase_days)
    header = (
        f"Proposed by `msgfleet sim plan`: {len(selection.sites)} sites reach {selection.covered:.1%} of "
        f"{code} (target {target:.0%}, RTT <= {max_rtt_ms:g} ms, residency {residency}).\n"
        f"Method: {selection.method}; optimal: {selection.optimal} ({selection.reason}).\n"
        f"Populations: {states.population_source}."
    )
    dump_plan(proposed, out, header=header)
    Console().print(header.replace("\n", " "), f"-> {out}")


@app.command()
def rollout(
    plan: Annotated[Path, typer.Option(help=PLAN_HELP)],
    out: Annotated[Path, typer.Option(help=OUT_HELP)],
    stop_at_target: Annotated[
        bool, typer.Option(help="End the run on the day the target is reached.")
    ] = False,
    fail_link: Annotated[list[str] | None, typer.Option(help=FAIL_HELP)] = None,
    sized_plan: Annotated[
        Path | None,
        typer.Option(
            help="Also write the plan with infra.design_users and design_load for --phase (for infra/)."
        ),
    ] = None,
    phase: Annotated[int | None, typer.Option(help="Phase for --sized-plan (default: the last).")] = None,
    strict: Annotated[bool, typer.Option(help=STRICT_HELP)] = False,
) -> None:
    """Simulate a plan day by day: rollout.csv, sites.csv, tariffs.csv, summary.json."""
    from rich.console import Console

    from msgfleet.schema import load_plan
    from sim.rollout import run_rollout, write_rollout

    loaded = load_plan(plan)
    _check_phases(loaded, None if phase is None else [phase])
    result = run_rollout(loaded, stop_at_target=stop_at_target, failed_links=_links(fail_link))
    write_rollout(result, out)
    console = Console()
    if sized_plan is not None:
        from msgfleet.schema import dump_plan
        from sim.capacity import sized_plan as with_design_users

        k = phase or len(result.timeline.phases)
        dump_plan(
            with_design_users(result.plan, k),
            sized_plan,
            header=f"{plan} with design users and loads of phase {k}.",
        )
        console.print(f"wrote {sized_plan} (infra.design_users and design_load for phase {k})")
    console.print(f"{result.plan.name}: {result.outcome} -> {out}")
    console.print(f"populations: {result.timeline.states.population_source}")
    economics = result.summary()["economics"]
    break_even = economics["break_even_day"]
    console.print(
        f"cash flow: NPV {economics['npv']:,.0f} {economics['currency']} at "
        f"{economics['discount_rate']:.0%}/year, break-even "
        + (f"on day {break_even}" if break_even is not None else "not within the run")
        + f" (per year: {out / 'cashflow.csv'})"
    )
    console.print(result.recovery.line(economics["currency"]))
    _warn(result.warnings(), strict)


@app.command()
def latency(
    plan: Annotated[Path, typer.Option(help=PLAN_HELP)],
    out: Annotated[Path, typer.Option(help=OUT_HELP)],
    phase: Annotated[list[int] | None, typer.Option(help="Phase(s) to simulate (default: all).")] = None,
    replications: Annotated[int | None, typer.Option(min=2, help="Default: the plan's.")] = None,
    scheduler: Annotated[str | None, typer.Option(help="Dask scheduler address (tcp://host:8786).")] = None,
    workers: Annotated[int | None, typer.Option(min=1, help="Local processes (default: all cores).")] = None,
    load: Annotated[float | None, typer.Option(help="National busy-hour messages/s to simulate.")] = None,
    fail_link: Annotated[list[str] | None, typer.Option(help=FAIL_HELP)] = None,
    strict: Annotated[bool, typer.Option(help=STRICT_HELP)] = False,
) -> None:
    """Busy-hour delivery latency per state pair: latency.csv, latency_cdf.csv, summary.json."""
    from rich.console import Console
    from rich.progress import Progress

    from msgfleet.schema import load_plan
    from sim.latency import run_latency, write_latency

    _check_load(load, "--load")
    loaded = load_plan(plan)
    _check_phases(loaded, phase)
    phases = phase or list(range(1, len(loaded.phases) + 1))
    reps = replications or loaded.latency.replications
    with Progress(transient=True) as progress:
        task = progress.add_task("replications", total=len(phases) * reps)
        run = run_latency(
            loaded,
            phases,
            reps,
            scheduler,
            workers,
            load,
            on_done=lambda: progress.advance(task),
            failed_links=_links(fail_link),
        )
    write_latency(run, str(out))
    console = Console()
    for row in run.summary()["phases"]:
        low, high = row["message_p95_ci_ms"]
        verdict = "met" if row["slo_met"] else "MISSED"
        console.print(
            f"phase {row['phase']} {row['name']}: message p95 {row['message_p95_ms']:.1f} ms "
            f"(95% CI {low:.1f}-{high:.1f}), SLO {row['slo_p95_ms']:g} ms {verdict}"
        )
        if row["undeliverable_share"] > 0:
            console.print(f"  {row['undeliverable_share']:.2%} of messages cannot be delivered (partition)")
    console.print(f"-> {out}")
    _warn(run.warnings(), strict)


@app.command()
def sweep(
    plan: Annotated[Path, typer.Option(help=PLAN_HELP)],
    out: Annotated[Path, typer.Option(help=OUT_HELP)],
    loads: Annotated[str, typer.Option(help="Comma-separated national busy-hour messages/s.")],
    phase: Annotated[int | None, typer.Option(help="Phase to simulate (default: the last).")] = None,
    replications: Annotated[int | None, typer.Option(min=2, help="Default: the plan's.")] = None,
    scheduler: Annotated[str | None, typer.Option(help="Dask scheduler address (tcp://host:8786).")] = None,
    workers: Annotated[int | None, typer.Option(min=1, help="Local processes (default: all cores).")] = None,
    strict: Annotated[bool, typer.Option(help=STRICT_HELP)] = False,
) -> None:
    """Message p95 against load (a parameter sweep through the executor): sweep.csv."""
    from rich.console import Console
    from rich.progress import Progress

    from msgfleet.schema import load_plan
    from sim.errors import SimError
    from sim.latency import sweep_loads, sweep_warnings

    try:
        values = [float(v) for v in loads.split(",") if v.strip()]
    except ValueError:
        raise SimError(f"--loads {loads!r}: give numbers separated by commas, e.g. 1000,5000") from None
    if not values:
        raise SimError(f"--loads {loads!r}: give at least one load, e.g. 1000,5000")
    for value in values:
        _check_load(value, "--loads")
    loaded = load_plan(plan)
    _check_phases(loaded, None if phase is None else [phase])
    reps = replications or loaded.latency.replications
    with Progress(transient=True) as progress:
        task = progress.add_task("sweep", total=len(values) * reps)
        table = sweep_loads(loaded, values, phase, reps, scheduler, workers, lambda: progress.advance(task))
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "sweep.csv", index=False, float_format="%.6g")
    console = Console()
    for row in table.itertuples(index=False):
        console.print(
            f"{row.load_msgs_per_s:>10,.0f} msg/s: {row.pods} pods, utilisation up to "
            f"{row.max_utilisation:.2f}, p95 {row.p95_ms:.1f} ms "
            f"(95% CI {row.p95_ci_low_ms:.1f}-{row.p95_ci_high_ms:.1f})"
        )
    console.print(f"-> {out / 'sweep.csv'}")
    _warn(sweep_warnings(table), strict)
