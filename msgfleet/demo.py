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

from rich.console import Console
from rich.table import Table

Stage = Callable[[Console, Path], None]
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
    from msgfleet.calibration import calibrate

    run(console, workdir, calibrate)


def stage_simulation(console: Console, workdir: Path) -> None:
    """Rollout, latency and tariffs of the calibrated plan (the dev plan if none), charts, a sized plan."""
    from charts.render import render
    from msgfleet.schema import dump_plan, load_plan
    from sim.capacity import sized_plan
    from sim.demo import DEV_PLAN
    from sim.demo import stage_simulation as simulate
    from sim.rollout import run_rollout

    plan_path = _calibrated_or_dev(workdir, DEV_PLAN)
    out = simulate(console, workdir, plan_path)
    charts = render(out)
    console.print(f"  {len(charts)} charts drawn in {out} (msgfleet charts {out})")
    sized = workdir / "sized-plan.yaml"
    header = f"{plan_path.name}, sized for phase 1 by sim/"
    dump_plan(sized_plan(load_plan(plan_path), 1), sized, header=header)
    console.print(f"  phase-1 site loads written to {sized} (infra sizes from them)")
    national = load_plan(NATIONAL_PLAN)
    result = run_rollout(national)
    console.print(
        f"  national plan {national.name}: {len(national.sites)} sites in {len(national.phases)} phases, "
        f"{result.outcome} (msgfleet sim rollout --plan rollout_plans/{NATIONAL_PLAN.name})"
    )


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
