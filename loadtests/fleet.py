"""The local fleet: one messenger node per live state of a plan phase, as loopback subprocesses.

``Fleet`` is a context manager used by ``msgfleet fleet up``, the load tests, other tests and the
demo. Each node runs ``python -m msgfleet.cli serve`` with its own data directory and database
(SQLite in its data directory by default, or one PostgreSQL database per state on a given server).
``DIR/fleet.json`` records what was started (and how: each node's command line and environment
overrides) so that ``msgfleet fleet restart STATE`` can start a node again as it was and
``msgfleet fleet down`` stops whatever runs now.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import functools
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from types import TracebackType

import httpx
import psutil
from sqlalchemy.engine import make_url

from loadtests.errors import FleetError

FLEET_FILE = "fleet.json"
PEERS_FILE = "peers.json"
FEDERATION_KEY_FILE = "federation.key"  # the node's default key file in its data dir (docs/FEDERATION.md)
HOST = "127.0.0.1"


@dataclass(frozen=True)
class Node:
    """One running node of the fleet."""

    state: str
    url: str
    pid: int
    database: str
    data_dir: str


def free_port() -> int:
    """A loopback TCP port that is free right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def state_database_url(server_url: str, state: str, prefix: str = "msgfleet") -> str:
    """The per-state database on ``server_url``: ``.../msgfleet_ru_mow`` for RU-MOW."""
    name = f"{prefix}_{state.lower().replace('-', '_')}"
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


async def _create_databases(urls: Iterable[str]) -> None:
    import asyncpg

    for url in urls:
        parsed = make_url(url)
        admin = parsed.set(drivername="postgresql", database="postgres")
        conn = await asyncpg.connect(admin.render_as_string(hide_password=False))
        try:
            exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", parsed.database)
            if not exists:
                await conn.execute(f'CREATE DATABASE "{parsed.database}"')
        finally:
            await conn.close()


async def _drop_databases(urls: Iterable[str]) -> None:
    import asyncpg

    for url in urls:
        parsed = make_url(url)
        admin = parsed.set(drivername="postgresql", database="postgres")
        conn = await asyncpg.connect(admin.render_as_string(hide_password=False))
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)')
        finally:
            await conn.close()


@functools.cache
def serve_options(python: str = sys.executable) -> str:
    """The text of ``msgfleet serve --help`` (to see which federation options the node has)."""
    done = subprocess.run(
        [python, "-m", "msgfleet.cli", "serve", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1"},
    )
    return done.stdout


def federation_public_key(path: Path) -> str:
    """Base64 public key of the node key at ``path``, writing a new key there first if none exists.

    The file format is the node's documented contract (docs/FEDERATION.md: base64 of the 32-byte
    Ed25519 seed, mode 0600), written here with PyNaCl so that loadtests need not import messenger.
    """
    from nacl.signing import SigningKey

    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        seed = base64.b64encode(bytes(SigningKey.generate())).decode()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(seed + "\n")
    key = SigningKey(base64.b64decode(path.read_text().strip()))
    return base64.b64encode(bytes(key.verify_key)).decode()


def wire_peers(data_dir: Path, urls: dict[str, str], python: str = sys.executable) -> dict[str, list[str]]:
    """Make the nodes peers: each gets an Ed25519 federation key in its data directory, and
    ``DIR/peers.json`` lists every node's state, URL and public key. Returns the extra ``serve``
    arguments per state (none if the node has no ``--peers`` option).

    The federation engineer owns the peer protocol; this is the one place the fleet wires it.
    """
    peers = []
    for state, url in urls.items():
        public_key = federation_public_key(data_dir / state / FEDERATION_KEY_FILE)
        peers.append({"state": state, "url": url, "public_key": public_key})
    path = data_dir / PEERS_FILE
    path.write_text(json.dumps(peers, indent=2) + "\n")
    options = serve_options(python)
    if "--peers" not in options:
        return {state: [] for state in urls}
    base = "--base-url" in options
    return {
        state: ["--peers", str(path), *(["--base-url", url] if base else [])] for state, url in urls.items()
    }


class Fleet:
    """Start nodes for ``states`` on loopback; stop them on exit.

    Parameters
    ----------
    states : the ISO 3166-2 ids, one node each.
    data_dir : the fleet directory; node ``S`` keeps its data in ``data_dir/S``.
    database_url : a PostgreSQL server URL; each state gets database ``<prefix>_<state>`` there,
        created if missing. ``None`` keeps each node's embedded SQLite default.
    drop_databases : drop those databases again on :meth:`stop` (tests).
    extra_args : more ``serve`` arguments for every node (e.g. a throttle for tests).
    """

    def __init__(
        self,
        states: Iterable[str],
        data_dir: str | Path,
        *,
        database_url: str | None = None,
        database_prefix: str = "msgfleet",
        drop_databases: bool = False,
        extra_args: Iterable[str] = (),
        env: dict[str, str] | None = None,
        ready_timeout_s: float = 60.0,
        python: str = sys.executable,
    ) -> None:
        self.states = list(dict.fromkeys(states))
        if not self.states:
            raise FleetError("a fleet needs at least one state")
        self.data_dir = Path(data_dir).resolve()
        self.database_url = database_url
        self.database_prefix = database_prefix
        self.drop_databases = drop_databases
        self.extra_args = list(extra_args)
        self.env = env or {}
        self.ready_timeout_s = ready_timeout_s
        self.python = python
        self.nodes: list[Node] = []
        self._procs: list[subprocess.Popen[bytes]] = []
        self._launches: dict[str, dict[str, object]] = {}  # state -> argv and env overrides (fleet.json)

    @property
    def urls(self) -> dict[str, str]:
        """State → base URL of its node."""
        return {node.state: node.url for node in self.nodes}

    def _databases(self) -> dict[str, str]:
        if self.database_url is None:
            return {}
        return {s: state_database_url(self.database_url, s, self.database_prefix) for s in self.states}

    def start(self) -> list[Node]:
        """Start every node and wait until each answers ``/readyz``; return them."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        databases = self._databases()
        if databases:
            try:
                asyncio.run(_create_databases(databases.values()))
            except Exception as exc:  # OSError or asyncpg's own hierarchy: one line for the user
                raise FleetError(f"cannot create databases on {self.database_url}: {exc}") from None
        ports = {state: free_port() for state in self.states}
        urls = {state: f"http://{HOST}:{port}" for state, port in ports.items()}
        peer_args = wire_peers(self.data_dir, urls, self.python) if len(self.states) > 1 else {}
        try:
            for state in self.states:
                self._spawn(state, ports[state], urls[state], databases.get(state), peer_args.get(state, []))
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        write_fleet_file(self.data_dir, self.nodes, self._launches)
        return self.nodes

    def _spawn(self, state: str, port: int, url: str, database: str | None, peer_args: list[str]) -> None:
        node_dir = self.data_dir / state
        node_dir.mkdir(parents=True, exist_ok=True)
        args = [self.python, "-m", "msgfleet.cli", "serve", "--state", state, "--host", HOST]
        args += ["--port", str(port), "--data-dir", str(node_dir)]
        if database:
            args += ["--database-url", database]
        args += peer_args + self.extra_args
        proc = _launch(args, self.env, node_dir / "node.log")
        self._procs.append(proc)
        self._launches[state] = {"argv": args, "env": self.env}
        shown = make_url(database).render_as_string(hide_password=True) if database else f"sqlite:{node_dir}"
        self.nodes.append(Node(state, url, proc.pid, shown, str(node_dir)))

    def _wait_ready(self) -> None:
        wait_ready(dict(zip(self.nodes, self._procs, strict=True)), self.ready_timeout_s)

    def stop(self) -> None:
        """Stop every node (SIGTERM, then SIGKILL after 10 s); drop test databases if asked."""
        for proc in self._procs:
            _signal_group(proc.pid, signal.SIGTERM)
        for proc in self._procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                _signal_group(proc.pid, signal.SIGKILL)
                proc.wait()
        self._procs.clear()
        fleet_file = self.data_dir / FLEET_FILE
        if self.nodes and fleet_file.exists():
            fleet_file.unlink()
        self.nodes = []
        if self.drop_databases and self.database_url:
            asyncio.run(_drop_databases(self._databases().values()))

    def wait(self, poll_s: float = 1.0) -> None:
        """Block while every node runs; raise :class:`FleetError` when one exits."""
        while True:
            for node, proc in zip(self.nodes, self._procs, strict=True):
                if proc.poll() is not None:
                    code = proc.returncode
                    raise FleetError(f"node {node.state} exited with code {code}: {_log_tail(node)}")
            time.sleep(poll_s)

    def detach(self) -> None:
        """Leave the nodes running after this object goes away (``fleet up --background``)."""
        self._procs.clear()
        self.nodes = []

    def __enter__(self) -> Fleet:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _launch(argv: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    """Start one node process, its output appended to ``log_path``."""
    log = log_path.open("ab")
    try:
        return subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **env},
            start_new_session=True,  # survives the launcher with --background; stopped as a group
        )
    finally:
        log.close()


def wait_ready(pending: dict[Node, subprocess.Popen[bytes]], timeout_s: float) -> None:
    """Wait until every node answers ``/readyz``; :class:`FleetError` naming a node that exited or the
    nodes still not ready after ``timeout_s``."""
    pending = dict(pending)
    deadline = time.monotonic() + timeout_s
    with httpx.Client(timeout=2.0) as client:
        while pending:
            for node, proc in list(pending.items()):
                if proc.poll() is not None:
                    raise FleetError(
                        f"node {node.state} exited with code {proc.returncode}: {_log_tail(node)}"
                    )
                try:
                    if client.get(f"{node.url}/readyz").status_code == 200:
                        del pending[node]
                except httpx.TransportError:
                    pass
            if pending and time.monotonic() > deadline:
                names = ", ".join(n.state for n in pending)
                raise FleetError(f"nodes not ready after {timeout_s:.0f} s: {names}")
            if pending:
                time.sleep(0.2)


def _log_tail(node: Node, lines: int = 3, width: int = 400) -> str:
    path = Path(node.data_dir) / "node.log"
    text = path.read_text(errors="replace").strip().splitlines() if path.exists() else []
    tail = " | ".join(line[-width:] for line in text[-lines:]) or "(no output)"
    return f"{tail} (log: {path})"


def write_fleet_file(data_dir: Path, nodes: list[Node], launches: dict[str, dict[str, object]]) -> Path:
    """``DIR/fleet.json``: states, URLs, pids and databases of a running fleet, and how each node
    was started (``launch``: argv and environment overrides, for ``fleet restart``)."""
    path = data_dir / FLEET_FILE
    record = {
        "states": [n.state for n in nodes],
        "urls": {n.state: n.url for n in nodes},
        "pids": {n.state: n.pid for n in nodes},
        "dbs": {n.state: n.database for n in nodes},
        "nodes": [asdict(n) for n in nodes],
        "launch": launches,
    }
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=2) + "\n")
    tmp.replace(path)  # a reader never sees half a file
    return path


def _read_record(data_dir: str | Path) -> dict:
    path = Path(data_dir) / FLEET_FILE
    try:
        record = json.loads(path.read_text())
        record["nodes"] = [Node(**node) for node in record["nodes"]]
        return dict(record)
    except FileNotFoundError:
        hint = "start one with `msgfleet fleet up --background`"
        raise FleetError(f"{path}: no fleet recorded here ({hint})") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise FleetError(f"{path}: not a fleet file: {exc}") from None


def read_fleet_file(data_dir: str | Path) -> list[Node]:
    """The nodes recorded in ``DIR/fleet.json``."""
    return list(_read_record(data_dir)["nodes"])


def restart_node(data_dir: str | Path, state: str, ready_timeout_s: float = 60.0) -> Node:
    """Stop the recorded node of ``state`` if it still runs, start it again with the command line and
    environment it was started with (same port, data directory and database), wait until it is
    ready, and record its new pid in ``DIR/fleet.json`` (so ``fleet down`` stops it)."""
    data_dir = Path(data_dir)
    record = _read_record(data_dir)
    nodes: list[Node] = record["nodes"]
    old = next((n for n in nodes if n.state == state), None)
    launch = record.get("launch", {}).get(state)
    if old is None:
        known = ", ".join(n.state for n in nodes)
        raise FleetError(f"{data_dir / FLEET_FILE}: no node {state!r} in this fleet (it has {known})")
    if not launch:
        raise FleetError(
            f"{data_dir / FLEET_FILE}: no launch record for {state} (fleet started by an older msgfleet)"
        )
    if _runs(old):
        stop_pids([old.pid])
    proc = _launch(list(launch["argv"]), dict(launch["env"]), Path(old.data_dir) / "node.log")
    new = dataclasses.replace(old, pid=proc.pid)
    try:
        wait_ready({new: proc}, ready_timeout_s)
    except BaseException:
        stop_pids([proc.pid])
        raise
    nodes = [new if n.state == state else n for n in nodes]
    write_fleet_file(data_dir, nodes, record.get("launch", {}))
    return new


def stop_pids(pids: Iterable[int], timeout_s: float = 10.0) -> None:
    """SIGTERM each pid's process group, SIGKILL what is still alive after ``timeout_s``.

    For nodes this process did not start (``fleet down``); :class:`Fleet` waits on its own children.
    """
    pids = list(pids)
    for pid in pids:
        _signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and any(_alive(pid) for pid in pids):
        time.sleep(0.1)
    for pid in pids:
        if _alive(pid):
            _signal_group(pid, signal.SIGKILL)


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)  # the node was started as the leader of its own session/group


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _runs(node: Node) -> bool:
    """Whether ``node.pid`` is still that node (a dead node's pid may belong to another process now)."""
    try:
        args = psutil.Process(node.pid).cmdline()
    except psutil.Error:
        return False
    return "serve" in args and node.state in args and node.data_dir in args


def stop_fleet(data_dir: str | Path) -> list[Node]:
    """Stop the fleet recorded in ``DIR/fleet.json`` (the nodes still running) and remove that file."""
    nodes = read_fleet_file(data_dir)
    stop_pids([n.pid for n in nodes if _runs(n)])
    (Path(data_dir) / FLEET_FILE).unlink(missing_ok=True)
    return nodes
