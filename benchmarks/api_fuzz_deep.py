"""Deep fuzz of the node's whole HTTP API: schemathesis with every phase, ``--examples`` per operation.

The suite's quick fuzz (tests/messenger/test_api_fuzz.py) sends a few derandomized cases per
operation; this run is what an outside tester does: ``schemathesis run`` with its examples, coverage,
fuzzing and stateful phases (links inferred from the responses) against a real node, authenticated
as a signed-up device, with all its checks (no 5xx; every response, 4xx included, matching the
documented schema and content type: the JSON ``{"error", "detail"}`` body) except
``positive_data_acceptance`` (the node validates more than JSON Schema can say: E.164 phones, codes,
ids that exist). Prints the requests sent, the failures by check, the run time and the node's CPU
time from /proc; exits 1 on any failure.

    python benchmarks/api_fuzz_deep.py [--examples 50] [--max-seconds 850] [--phases ...]
        [--database-url postgresql+asyncpg://... --redis-url redis://...]   # PostgreSQL + 2 workers
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from messenger.client import MessengerClient, sms_file_reader
from messenger.launch import NodeProcess, scratch_database, start_node

NODE_ENV = {
    "MSGFLEET_CODE_RATE_PER_IP": "0",
    "MSGFLEET_LOG_LEVEL": "warning",
    "MSGFLEET_DEV_SMS_ENDPOINT": "true",
    # /v1/sync long-polls for up to ``timeout`` seconds; fuzzed values would make most cases wait.
    "MSGFLEET_SYNC_MAX_TIMEOUT": "0.2",
}
PHASES = "examples,coverage,fuzzing,stateful"


def node_cpu_seconds(node: NodeProcess) -> float:
    """User + system CPU of the node's process tree (uvicorn workers included), from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    total, todo = 0.0, [node.process.pid]
    while todo:
        pid = todo.pop()
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            continue
        todo.extend(int(c) for c in children)
    return total


async def device_token(node: NodeProcess) -> str:
    phone = f"+7996{secrets.randbelow(10**7):07d}"
    client = await MessengerClient.login(node.url, phone, sms_file_reader(node.sms_path))
    await client.close()
    return client.token


def summarise(events_path: Path) -> tuple[int, Counter[str], list[str]]:
    """(requests sent, failures by check, one line per distinct failure) from schemathesis' NDJSON events."""
    requests, checks, lines = 0, Counter[str](), []
    seen: set[tuple[str, str]] = set()
    for raw in events_path.read_text().splitlines():
        event = json.loads(raw)
        finished = event.get("ScenarioFinished")
        if not finished:
            continue
        recorder = finished.get("recorder") or {}
        requests += len(recorder.get("interactions") or {})
        label = recorder.get("label", "?")
        for case_checks in (recorder.get("checks") or {}).values():
            for check in case_checks:
                if str(check.get("status")).lower() != "failure":
                    continue
                name = check.get("name", "?")
                failure = check.get("failure_info") or {}
                title = str((failure.get("failure") or {}).get("title", ""))
                key = (label, f"{name}: {title}")
                if key not in seen:
                    seen.add(key)
                    checks[name] += 1
                    lines.append(f"{label}: {name}: {title}")
    return requests, checks, lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=50, help="examples per operation and phase")
    parser.add_argument("--max-seconds", type=float, default=850, help="bound on the schemathesis run")
    parser.add_argument("--phases", default=PHASES, help=f"schemathesis phases (default {PHASES})")
    parser.add_argument("--database-url", help="PostgreSQL (postgresql+asyncpg://...): 2 workers + Redis")
    parser.add_argument("--redis-url", help="Redis for the PostgreSQL node's workers")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fuzz-") as tmp:
        data_dir = Path(tmp) / "node"
        data_dir.mkdir()
        drop = None
        if args.database_url:
            url, drop = scratch_database(args.database_url)
            env = {**NODE_ENV, "MSGFLEET_REDIS_PREFIX": f"fuzz:{secrets.token_hex(4)}"}
            node = start_node(data_dir, database_url=url, redis_url=args.redis_url, workers=2, env=env)
        else:
            node = start_node(data_dir, env=NODE_ENV)
        try:
            token = asyncio.run(device_token(node))
            events = Path(tmp) / "events.ndjson"
            cpu0, start = node_cpu_seconds(node), time.monotonic()
            cmd = [
                *(sys.executable, "-m", "schemathesis.cli", "run", f"{node.url}/openapi.json"),
                *("--max-examples", str(args.examples), "--phases", args.phases),
                *("--header", f"Authorization: Bearer {token}"),
                *("--exclude-checks", "positive_data_acceptance"),
                *("--request-timeout", "10", "--no-shrink", "--generation-deterministic"),
                *("--continue-on-failure", "--report", "ndjson", "--report-ndjson-path", str(events)),
            ]
            done = subprocess.run(
                cmd, capture_output=True, text=True, timeout=args.max_seconds, cwd=tmp
            )  # its cache
            seconds, cpu = time.monotonic() - start, node_cpu_seconds(node) - cpu0
        finally:
            node.stop()
            if drop is not None:
                drop()
        if not events.exists():
            print(done.stdout[-3000:], done.stderr[-3000:], sep="\n")
            return 1
        requests, checks, lines = summarise(events)
    backend = "postgresql + 2 workers + redis" if args.database_url else "sqlite"
    print(f"api fuzz ({backend}): {args.examples} examples per operation, phases {args.phases}")
    per_request = 1000 * cpu / max(requests, 1)
    print(f"requests {requests} in {seconds:.0f} s; node cpu {cpu:.1f} s = {per_request:.2f} ms/request")
    print(f"failures {sum(checks.values())}" + "".join(f"; {name} {n}" for name, n in checks.most_common()))
    summary = [line.strip() for line in done.stdout.splitlines() if line.strip()]
    for i, line in enumerate(summary):  # schemathesis' own summary: each phase, the cases it generated
        if " (in " in line or line.startswith("Test cases"):
            print("  " + " ".join(summary[i : i + 2]))
    for line in lines[:60]:
        print("  " + line)
    if done.returncode != 0 and not checks:  # errors (timeouts, a broken run) that are not check failures
        print(done.stdout[-3000:], done.stderr[-3000:], sep="\n")
    return 1 if checks or done.returncode != 0 else 0


if __name__ == "__main__":
    sys.exit(main())
