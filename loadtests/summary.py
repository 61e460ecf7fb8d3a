"""``DIR/summary.json``: what a load test measured, from Locust's CSVs and the nodes' counters."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import pandas as pd

from loadtests.config import RunConfig
from loadtests.errors import LoadTestError
from loadtests.metrics import Scrape, server_counters
from loadtests.stats import DELIVERY, SOCKET

SUMMARY_FILE = "summary.json"
STATS_CSV = "locust_stats.csv"
HISTORY_CSV = "locust_stats_history.csv"
STEPS_CSV = "steps.csv"
KNEE_FILE = "knee.json"


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None  # Locust writes "N/A" for an empty percentile
    return None if math.isnan(number) else number


def read_csv(run_dir: Path, name: str) -> pd.DataFrame:
    path = run_dir / name
    try:
        return pd.read_csv(path)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise LoadTestError(f"{path}: cannot read Locust output: {exc}") from None


def request_rows(stats: pd.DataFrame) -> list[dict[str, Any]]:
    """Per request type and name (and ``Aggregated``): counts, rates, p50/p95/p99."""
    rows = []
    for record in stats.to_dict("records"):
        rows.append(
            {
                "type": "" if pd.isna(record["Type"]) else str(record["Type"]),
                "name": str(record["Name"]),
                "requests": int(record["Request Count"]),
                "failures": int(record["Failure Count"]),
                "requests_per_s": _number(record["Requests/s"]),
                "mean_ms": _number(record["Average Response Time"]),
                "p50_ms": _number(record["50%"]),
                "p95_ms": _number(record["95%"]),
                "p99_ms": _number(record["99%"]),
            }
        )
    return rows


def active_user_hours(history: pd.DataFrame) -> float:
    """Users × time from the history's aggregated rows (each count holds until the next row)."""
    agg = history[history["Name"] == "Aggregated"].sort_values("Timestamp")
    if len(agg) < 2:
        return 0.0
    times = agg["Timestamp"].to_numpy(dtype=float)
    users = agg["User Count"].to_numpy(dtype=float)
    return float((users[:-1] * (times[1:] - times[:-1])).sum() / 3600)


def build_summary(
    run_dir: str | Path, config: RunConfig, before: dict[str, Scrape], after: dict[str, Scrape]
) -> dict[str, Any]:
    """Assemble ``summary.json`` from a finished run directory and the two scrapes."""
    run_dir = Path(run_dir)
    requests = request_rows(read_csv(run_dir, STATS_CSV))
    history = read_csv(run_dir, HISTORY_CSV)
    http = [r for r in requests if r["name"] != "Aggregated" and r["type"] != SOCKET]
    socket = [r for r in requests if r["type"] == SOCKET]
    delivery = next((r for r in requests if (r["type"], r["name"]) == DELIVERY), None)
    knee_path = run_dir / KNEE_FILE
    knee = json.loads(knee_path.read_text()) if knee_path.exists() else None
    peak_users = int(history["User Count"].max()) if len(history) else 0
    duration = float(history["Timestamp"].max() - history["Timestamp"].min()) if len(history) else 0.0
    return {
        "run_dir": str(run_dir),
        "targets": config.targets,
        "nodes": config.nodes or len(config.targets),
        "plan": config.plan,
        "phase": config.phase,
        "mode": "knee" if config.find_knee else "levels",
        "levels": [] if config.find_knee else config.levels,
        "users": peak_users,
        "duration_s": round(duration, 1),
        "active_user_hours": round(active_user_hours(history), 6),
        "workers": config.workers,
        "seed": config.seed,
        "cpu_affinity": {
            "machine_cpus": os.cpu_count(),
            "nodes": config.node_cpus or None,
            "load_generator": config.generator_cpus or None,
            "pinned": bool(config.node_cpus),
        },
        "http_requests": sum(r["requests"] for r in http),
        "http_failures": sum(r["failures"] for r in http),
        "http_requests_per_s": round(sum(r["requests"] for r in http) / duration, 3) if duration else 0.0,
        "socket_events": sum(r["requests"] for r in socket),
        "socket_failures": sum(r["failures"] for r in socket),
        "message_deliveries": delivery["requests"] if delivery else 0,
        "failure_ratio": round(
            sum(r["failures"] for r in http + socket) / max(sum(r["requests"] for r in http + socket), 1), 6
        ),
        "per_request": [r for r in requests if r["name"] != "Aggregated"],
        "delivery": delivery,
        "knee": knee,
        "server": server_counters(before, after),
        "scrapes": {"before": before, "after": after},
    }


def write_summary(run_dir: str | Path, summary: dict[str, Any]) -> Path:
    path = Path(run_dir) / SUMMARY_FILE
    path.write_text(json.dumps(summary, indent=2) + "\n")
    return path


def read_summary(run_dir: str | Path) -> dict[str, Any]:
    path = Path(run_dir) / SUMMARY_FILE
    try:
        return dict(json.loads(path.read_text()))
    except FileNotFoundError:
        hint = f"run `msgfleet loadtest ... --out {run_dir}` first"
        raise LoadTestError(f"{path}: no summary ({hint})") from None
    except ValueError as exc:
        raise LoadTestError(f"{path}: not valid JSON: {exc}") from None
