"""``make demo``: a tour of msgfleet, one stage function after another.

Each stage is ``stage_x(console, workdir)``: it prints what it did with rich and leaves its files under
``workdir``. Append stages to ``STAGES`` (simulation, load-test calibration, infrastructure render, ...).
"""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from msgfleet.schema import Plan

Stage = Callable[[Console, Path], None]
MAX_PODS = 100_000  # the schema's bound on capacity.max_pods: a site needing more stays capped, and warned of
NATIONAL_PLAN = Path(__file__).resolve().parents[1] / "rollout_plans" / "ru-national.yaml"


def stage_messenger(console: Console, workdir: Path) -> None:
    """Start a node on SQLite, sign two users up (codes from the SMS sink), exchange encrypted messages."""
    from messenger.launch import start_node

    console.print("Starting a messenger node for [bold]RU-MOW[/] on SQLite (python -m messenger serve) …")
    with start_node(workdir / "node-RU-MOW", env={"MSGFLEET_LOG_LEVEL": "warning"}) as node:
        console.print(f"  node ready at {node.url} (data dir {node.data_dir})")
        table, plaintexts = asyncio.run(_conversation(node.url, node.sms_path))
        console.print(table)
        leaked = _plaintexts_in_database(node.data_dir, plaintexts)
    verdict = "[green]none of them[/]" if not leaked else f"[red]{len(leaked)} leaked[/]"
    console.print(f"Database files scanned for the {len(plaintexts)} plaintexts: {verdict} found at rest.")


async def _conversation(url: str, sms_path: Path) -> tuple[Table, list[str]]:
    from messenger.client import MessengerClient, sms_file_reader

    read = sms_file_reader(sms_path)
    table = Table("step", "device", "what happened", title="Two users, three devices, end-to-end encrypted")
    alice = await MessengerClient.login(
        url, "+79161234567", read, device_name="alice-phone", platform="android"
    )
    table.add_row("1", "alice-phone", f"signed up with an SMS code from sms.jsonl → {alice.user_id}")
    bob = await MessengerClient.login(url, "+79031234567", read, device_name="bob-phone", platform="ios")
    table.add_row("2", "bob-phone", f"signed up → {bob.user_id}")
    laptop = await MessengerClient.login(
        url, "+79031234567", read, device_name="bob-laptop", platform="linux"
    )
    table.add_row("3", "bob-laptop", "logged in as bob: a second device with its own keys and token")
    chat = await alice.open_private(bob.user_id)
    devices = await alice.chat_devices(chat)
    table.add_row("4", "alice-phone", f"opened private chat {chat}; recipients: {len(devices)} devices")
    plaintexts = ["Привет, Bob! Lunch at 13:00?", "Yes — the usual place.", "Reading this on my laptop too."]
    try:
        async with bob.socket() as phone_ws, laptop.socket() as laptop_ws:
            sent = await alice.send(chat, plaintexts[0])
            for name, client, ws in (("bob-phone", bob, phone_ws), ("bob-laptop", laptop, laptop_ws)):
                event = await ws.next("message.new")
                text = await client.decrypt(event["data"])
                table.add_row("5", name, f"WebSocket push seq {sent['seq']}, decrypted: [italic]{text}[/]")
            reply = await bob.send(chat, plaintexts[1], reply_to=sent["seq"])
            table.add_row("6", "bob-phone", f"replied to seq {sent['seq']} (seq {reply['seq']})")
            mirrored = await laptop_ws.next("message.new")
            own = await laptop.decrypt(mirrored["data"])
            table.add_row("7", "bob-laptop", f"sees what bob sent from his phone: [italic]{own}[/]")
        await bob.read(chat, reply["seq"])
        await laptop.send(chat, plaintexts[2])
        events = await alice.sync()
        kinds = [e["kind"] for e in events]
        table.add_row("8", "alice-phone", f"long-poll sync after cursor 0: {', '.join(kinds)}")
        history = await alice.history(chat)
        table.add_row("9", "alice-phone", "history decrypted: " + " | ".join(str(m["text"]) for m in history))
    finally:
        for client in (alice, bob, laptop):
            await client.close()
    return table, plaintexts


def _plaintexts_in_database(data_dir: Path, plaintexts: list[str]) -> list[str]:
    """Plaintexts found in the SQLite file, its WAL, or any row of any table."""
    raw = b"".join(p.read_bytes() for p in data_dir.glob("node.db*"))
    with sqlite3.connect(data_dir / "node.db") as db:
        tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        rows = repr([db.execute(f'SELECT * FROM "{t}"').fetchall() for t in tables])
    return [p for p in plaintexts if p.encode() in raw or p in rows]


def stage_loadtest(console: Console, workdir: Path) -> None:
    """A 2-state fleet under a short Locust knee search, then a calibrated plan from what it measured."""
    from loadtests.demo import stage_loadtest as run
    from msgfleet.calibration import CalibrationRefused, calibrate
    from msgfleet.errors import MsgfleetError

    def checked(out: Path, plan: Path, calibrated: Path) -> object:
        try:
            return calibrate(out, plan, calibrated)
        except CalibrationRefused as exc:
            console.print(f"[bold red]calibrate refused to write the plan[/]: {exc}")
            forced = calibrate(out, plan, calibrated, force=True)
            if "capacity consistent with CPU" in {c.name for c in forced.failed}:
                calibrated.unlink()  # no trustworthy capacity: the stages below keep the plan's own
                raise
            console.print(
                "[yellow]The capacity's own checks passed, so the tour goes on with --force; a planner would "
                "re-measure (longer steps, a quieter machine) before using the other figures.[/]"
            )
            return forced

    try:
        run(console, workdir, checked)
    except MsgfleetError as exc:  # e.g. no step met the SLO with enough samples on a busy machine
        console.print(f"[bold red]no calibration from this run[/]: {exc}")
        console.print("[yellow]The stages below use the dev plan's own capacity.[/]")


def sized_to_slo(console: Console, plan: Plan) -> Plan:
    """``plan`` with ``capacity.max_pods`` raised to what its busiest site needs in any phase (the one
    sizing rule, at the plan's capacity and headroom), so that no site is capped; every site the
    plan's own cap would have held back is a loud warning naming it."""
    from sim.rollout import run_rollout

    unbounded = _with_capacity(plan, max_pods=MAX_PODS)
    needed = {(z.phase, z.state): z.pods for z in run_rollout(unbounded).sizings}
    capped = sorted((k, n) for k, n in needed.items() if n > plan.capacity.max_pods)
    for phase in sorted({k[0] for k, _ in capped}):
        sites = ", ".join(f"{state} {pods}" for (p, state), pods in capped if p == phase)
        console.print(
            f"  [bold red]WARNING[/] phase {phase}: max_pods {plan.capacity.max_pods} would cap {sites} pods "
            f"(needed at {plan.capacity.messages_per_s_per_pod:g} messages/s per pod): their p95 would blow "
            "far past the SLO"
        )
    if not capped:
        return plan
    most = max(needed.values())
    console.print(
        f"  [bold]max_pods raised {plan.capacity.max_pods} → {most}[/]: every site sized to its load"
    )
    return _with_capacity(plan, max_pods=most)


def _with_capacity(plan: Plan, **fields: object) -> Plan:
    from msgfleet.schema import Plan

    data = plan.model_dump()
    data["capacity"].update(fields)
    return Plan.model_validate(data)


def _slo_verdicts(console: Console, out: Path, slo_ms: float) -> None:
    """Say, loudly where it fails, whether each simulated phase's busy-hour p95 meets the SLO."""
    import json

    phases = json.loads((out / "summary.json").read_text())["latency"]["phases"]
    for phase in phases:
        p95 = f"phase {phase['phase']}: p95 {phase['message_p95_ms']:.0f} ms"
        if phase["slo_met"]:
            console.print(f"  {p95} meets the {slo_ms:.0f} ms SLO")
        else:
            console.print(f"  [bold red]{p95} MISSES the {slo_ms:.0f} ms SLO[/]")


def stage_simulation(console: Console, workdir: Path) -> None:
    """Rollout, latency and tariffs of the calibrated plan (the dev plan if none) with pods sized to its
    SLO, charts, a sized plan; then why the dev plan cannot reach 60% and the national plan that does,
    at the calibrated capacity."""
    from charts.render import render
    from msgfleet.schema import dump_plan, load_plan
    from sim.capacity import sized_plan
    from sim.demo import DEV_PLAN
    from sim.demo import stage_simulation as simulate

    plan_path = _calibrated_or_dev(workdir, DEV_PLAN)
    plan = load_plan(plan_path)
    if plan_path != DEV_PLAN:
        plan = sized_to_slo(console, plan)
        plan_path = workdir / "calibrated-sized-plan.yaml"
        dump_plan(plan, plan_path, header="The calibrated plan with max_pods sized to its load (make demo).")
    out = simulate(console, workdir, plan_path)
    _slo_verdicts(console, out, plan.slo.delivery_p95_ms)
    charts = render(out)
    console.print(f"  {len(charts)} charts drawn in {out} (msgfleet charts {out})")
    sized = workdir / "sized-plan.yaml"
    header = f"{plan_path.name}, sized for phase 1 by sim/"
    dump_plan(sized_plan(plan, 1), sized, header=header)
    console.print(f"  phase-1 site loads written to {sized} (infra sizes from them)")
    _national(console, plan)


def _national(console: Console, calibrated: Plan) -> None:
    """The dev plan's states are a small share of the country: say so, and show the national plan's
    phases at the calibrated capacity."""
    from msgfleet.schema import load_plan
    from sim.demo import print_economics, print_warnings
    from sim.geography import load_states
    from sim.rollout import run_rollout

    states = load_states(calibrated.country)
    share = (
        sum(float(states.population[states.index(s.state)]) for s in calibrated.sites)
        / states.national_population
    )
    if share < calibrated.target_coverage:
        console.print(
            f"  [bold]{calibrated.name}'s {len(calibrated.sites)} states hold {share:.1%} of "
            f"{calibrated.country}'s population: its {calibrated.coverage_metric} can never reach "
            f"{calibrated.target_coverage:.0%}[/] (population: {states.population_source})"
        )
    national = load_plan(NATIONAL_PLAN)
    keep = (
        "messages_per_s_per_pod",
        "service_time_ms_mean",
        "service_time_cv",
        "requests_per_message",
        "source",
    )
    national = _with_capacity(national, **{k: getattr(calibrated.capacity, k) for k in keep})
    national = sized_to_slo(console, national)
    result = run_rollout(national)
    console.print(
        f"  national plan {national.name} ({national.capacity.messages_per_s_per_pod:g} messages/s per pod): "
        f"{len(national.sites)} sites in {len(national.phases)} phases, {result.outcome} "
        f"(msgfleet sim rollout --plan rollout_plans/{NATIONAL_PLAN.name})"
    )
    table = Table("phase", "from day", "sites", f"{national.coverage_metric} at phase end", "node pods")
    for k, phase in enumerate(result.timeline.phases, start=1):
        row = result.daily.iloc[min(result.timeline.window(k)[1], len(result.daily) - 1)]
        pods = sum(z.pods for z in result.sizings if z.phase == k)
        table.add_row(f"{k} {phase.name}", str(phase.start_day), str(int(row["live_sites"])),
                      f"{row['coverage']:.1%}", str(pods))  # fmt: skip
    console.print(table)
    print_economics(console, result)
    print_warnings(console, result.warnings())


def stage_infra(console: Console, workdir: Path) -> None:
    """Offline render of phase 1 under Pulumi's mocks, schema- and policy-checked, from the sized plan."""
    from infra.demo import stage_infra as render_infra

    sized = workdir / "sized-plan.yaml"
    render_infra(console, workdir, sized if sized.exists() else None)


def _calibrated_or_dev(workdir: Path, dev_plan: Path) -> Path:
    calibrated = workdir / "calibrated-plan.yaml"
    return calibrated if calibrated.exists() else dev_plan


STAGES: list[Stage] = [stage_messenger, stage_loadtest, stage_simulation, stage_infra]


def main() -> None:
    """Run every stage in a fresh temporary working directory."""
    from msgfleet.errors import MsgfleetError

    console = Console()
    workdir = Path(tempfile.mkdtemp(prefix="msgfleet-demo-"))
    console.print(f"msgfleet demo — working directory {workdir}")
    try:
        for stage in STAGES:
            console.rule(stage.__name__.removeprefix("stage_"))
            stage(console, workdir)
    except MsgfleetError as exc:
        print(f"msgfleet: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
