"""The run configuration handed from ``msgfleet loadtest`` to the Locust process (``run.json``).

Locust runs in its own process (importing it monkey-patches with gevent), so everything it needs
travels in one JSON file whose path is in :data:`CONFIG_ENV`.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from loadtests.errors import LoadTestError

CONFIG_ENV = "MSGFLEET_LOADTEST_CONFIG"
TARGETS_ENV = "MSGFLEET_TARGETS"  # "RU-MOW=http://127.0.0.1:8001,RU-SPE=http://127.0.0.1:8002"
RUN_FILE = "run.json"


@dataclass
class RunConfig:
    """One load-test run. ``levels`` are user counts run one after the other for ``duration_s``
    each (``[users]`` by default); ``find_knee`` replaces them with the knee search."""

    out_dir: str
    targets: dict[str, str]
    plan: str | None = None
    phase: int = 1
    users: int = 10
    spawn_rate: float = 10.0
    duration_s: float = 30.0
    levels: list[int] = field(default_factory=list)
    find_knee: bool = False
    workers: int = 0
    nodes: int = 0  # node processes behind the targets (for per-pod figures)
    sms_files: dict[str, str] = field(default_factory=dict)  # state -> the node's sms.jsonl
    node_pids: dict[str, int] = field(default_factory=dict)  # state -> pid (local fleet: CPU per step)
    node_cpus: list[int] = field(default_factory=list)  # CPUs the nodes are pinned to (none: not pinned)
    generator_cpus: list[int] = field(default_factory=list)  # CPUs Locust (master and workers) is pinned to
    seed: int = 1  # each user's random stream is seeded by (seed, worker index, user serial)

    def __post_init__(self) -> None:
        if not self.targets:
            raise LoadTestError("no target: give --target URL or a plan whose fleet is started")
        if self.users < 1 or self.spawn_rate <= 0 or self.duration_s <= 0:
            raise LoadTestError("--users, --spawn-rate and --duration must be positive")
        if self.workers < 0:
            raise LoadTestError(f"--workers must be >= 0, got {self.workers}")
        if not self.levels:
            self.levels = [self.users]

    def write(self) -> Path:
        path = Path(self.out_dir) / RUN_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")
        return path

    @classmethod
    def read(cls, path: str | Path) -> RunConfig:
        try:
            return cls(**json.loads(Path(path).read_text()))
        except (OSError, ValueError, TypeError) as exc:
            raise LoadTestError(f"{path}: not a load-test run file: {exc}") from None


def parse_targets(items: list[str] | str) -> dict[str, str]:
    """``STATE=URL`` items (or a bare URL, taken as state ``node``) → state → URL."""
    if isinstance(items, str):
        items = [i for i in items.split(",") if i.strip()]
    targets: dict[str, str] = {}
    for index, item in enumerate(items):
        state, sep, url = item.strip().partition("=")
        if not sep:
            state, url = (f"node{index + 1}" if index else "node"), item.strip()
        if not url.startswith(("http://", "https://")):
            raise LoadTestError(f"target {item!r}: expected URL or STATE=URL with an http(s) URL")
        targets[state] = url.rstrip("/")
    return targets


def config_from_environment(host: str | None) -> RunConfig:
    """For plain ``locust -f loadtests/locustfile.py``: run.json if given, else targets/host."""
    if path := os.environ.get(CONFIG_ENV):
        return RunConfig.read(path)
    targets = parse_targets(os.environ.get(TARGETS_ENV, "")) or (parse_targets([host]) if host else {})
    return RunConfig(out_dir=".", targets=targets)
