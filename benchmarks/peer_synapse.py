"""Peer benchmark: the same Locust workload against Matrix Synapse and one msgfleet node.

``make bench-peer`` runs it. Synapse is an optional extra, never a runtime dependency: it is
installed (pinned) into its own virtualenv ``.venv/peer-synapse`` so its dependencies cannot
disturb msgfleet's. Both servers run on loopback with SQLite; Synapse with its rate limits raised
and users registered through its shared-secret admin API, msgfleet through its real sign-up.
``SENDERS`` closed-loop senders each post into a room (group) of ``ROOM_SIZE`` members whose other
members receive; the script prints both throughputs (messages/s sent), both p95 delivery
latencies and the ratios. msgfleet runs twice: senders posting over HTTP like Synapse's, and over
their devices' WebSockets (``message.send``), the way msgfleet clients send. Figures and Locust CSVs go
to ``out/peer_synapse/``.

    python benchmarks/peer_synapse.py [--senders 20] [--room-size 3] [--duration 20] [--send http ws]
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from loadtests.fleet import Fleet, free_port  # noqa: E402
from loadtests.run import LOADTEST_NODE_ENV  # noqa: E402

SYNAPSE = "matrix-synapse==1.163.2"  # pinned: the peer's version is part of the figure
VENV = ROOT / ".venv" / "peer-synapse"
# Rate limits raised far above the load (Synapse's defaults would throttle the benchmark).
UNLIMITED = {"per_second": 100000, "burst_count": 100000}
RATE_LIMITS = {
    "rc_message": UNLIMITED,
    "rc_registration": UNLIMITED,
    "rc_room_creation": UNLIMITED,
    "rc_joins_per_room": UNLIMITED,
    "rc_login": {"address": UNLIMITED, "account": UNLIMITED, "failed_attempts": UNLIMITED},
    "rc_joins": {"local": UNLIMITED, "remote": UNLIMITED},
    "rc_invites": {"per_room": UNLIMITED, "per_user": UNLIMITED, "per_issuer": UNLIMITED},
}


def synapse_python() -> Path:
    """The Synapse virtualenv's interpreter, installed on first use."""
    python = VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", SYNAPSE], check=True)
    return python


class Synapse:
    """A Synapse homeserver on loopback with SQLite, for the duration of a ``with`` block."""

    def __init__(self, workdir: Path) -> None:
        self.workdir, self.python = workdir, synapse_python()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Synapse:
        config = self.workdir / "homeserver.yaml"
        subprocess.run(
            [str(self.python), "-m", "synapse.app.homeserver", "--server-name", "localhost",
             "--config-path", str(config), "--generate-config", "--report-stats=no"],
            check=True, cwd=self.workdir, capture_output=True,
        )  # fmt: skip
        data = yaml.safe_load(config.read_text())
        data["listeners"] = [
            {"port": self.port, "bind_addresses": ["127.0.0.1"], "type": "http", "tls": False,
             "x_forwarded": False, "resources": [{"names": ["client"], "compress": False}]}
        ]  # fmt: skip
        data["trusted_key_servers"] = []
        data["suppress_key_server_warning"] = True
        data["presence"] = {"enabled": False}
        data.update(RATE_LIMITS)
        self.secret = data["registration_shared_secret"]
        config.write_text(yaml.safe_dump(data))
        log = (self.workdir / "synapse.out").open("ab")
        self.proc = subprocess.Popen(
            [str(self.python), "-m", "synapse.app.homeserver", "-c", str(config)],
            cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"synapse exited; see {self.workdir / 'synapse.out'}")
            try:
                if httpx.get(f"{self.url}/_matrix/client/versions", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        raise RuntimeError("synapse did not answer within 120 s")

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def register(self, client: httpx.Client, name: str) -> dict[str, str]:
        """Register ``name`` with the shared-secret admin API (HMAC-SHA1 over nonce, user, password)."""
        endpoint = f"{self.url}/_synapse/admin/v1/register"
        nonce = client.get(endpoint).json()["nonce"]
        password = "bench-" + name
        mac = hmac.new(self.secret.encode(), digestmod=hashlib.sha1)
        mac.update(b"\x00".join([nonce.encode(), name.encode(), password.encode(), b"notadmin"]))
        body = {
            "nonce": nonce,
            "username": name,
            "password": password,
            "admin": False,
            "mac": mac.hexdigest(),
        }
        reply = client.post(endpoint, json=body)
        reply.raise_for_status()
        data = reply.json()
        return {"user": data["user_id"], "token": data["access_token"]}


def synapse_rooms(server: Synapse, senders: int, room_size: int) -> dict[str, Any]:
    rooms = []
    with httpx.Client(timeout=60) as client:
        for r in range(senders):
            people = [server.register(client, f"u{r}x{i}") for i in range(room_size)]
            owner, members = people[0], people[1:]
            auth = {"Authorization": f"Bearer {owner['token']}"}
            created = client.post(
                f"{server.url}/_matrix/client/v3/createRoom",
                json={"preset": "private_chat", "invite": [m["user"] for m in members]},
                headers=auth,
            )
            created.raise_for_status()
            room = created.json()["room_id"]
            for member in members:
                joined = client.post(
                    f"{server.url}/_matrix/client/v3/join/{room}",
                    json={}, headers={"Authorization": f"Bearer {member['token']}"},
                )  # fmt: skip
                joined.raise_for_status()
            rooms.append({"room": room, "sender": owner, "members": members})
    return {"url": server.url, "rooms": rooms}


def _msgfleet_login(client: httpx.Client, url: str, phone: str) -> dict[str, str]:
    client.post(f"{url}/v1/auth/request-code", json={"phone": phone}).raise_for_status()
    code = client.get(f"{url}/v1/dev/sms/{phone}").json()["code"]
    body = {"phone": phone, "code": code, "device_name": "bench", "platform": "bench"}
    login = client.post(f"{url}/v1/auth/verify", json=body)
    login.raise_for_status()
    data = login.json()
    return {"user": data["user_id"], "device": data["device_id"], "token": data["token"]}


def msgfleet_rooms(url: str, senders: int, room_size: int) -> dict[str, Any]:
    rooms = []
    with httpx.Client(timeout=60) as client:
        for r in range(senders):
            people = [_msgfleet_login(client, url, f"+7955{r:03d}{i:04d}") for i in range(room_size)]
            owner, members = people[0], people[1:]
            auth = {"Authorization": f"Bearer {owner['token']}"}
            body = {"kind": "group", "members": [m["user"] for m in members], "title": f"bench {r}"}
            created = client.post(f"{url}/v1/chats", json=body, headers=auth)
            created.raise_for_status()
            chat = created.json()["id"]
            devices = client.get(f"{url}/v1/chats/{chat}/devices", headers=auth).json()
            rooms.append({"room": chat, "sender": owner, "members": members,
                          "devices": sorted(d["device_id"] for d in devices)})  # fmt: skip
    return {"url": url, "rooms": rooms}


def run_locust(
    kind: str, setup: dict[str, Any], out: Path, senders: int, duration: int, send: str = "http"
) -> dict[str, float]:
    """Run the shared workload headless; return sent/s, delivered/s and the p95s."""
    setup_file = out / f"{kind}-setup.json"
    setup_file.write_text(json.dumps(setup))
    env = {
        **os.environ,
        "PEER_KIND": kind,
        "PEER_SEND": send,
        "PEER_SETUP": str(setup_file),
        "PYTHONPATH": str(ROOT),
    }
    label = kind if send == "http" else f"{kind}-{send}"
    log = (out / f"{label}-locust.log").open("w")
    subprocess.run(
        [sys.executable, "-m", "locust", "-f", str(ROOT / "benchmarks" / "_peer_locustfile.py"), "--headless",
         "-u", str(senders), "-r", str(senders), "-t", f"{duration}s", "--csv", str(out / label),
         "--only-summary", "--stop-timeout", "5"],
        check=False, env=env, timeout=duration + 180, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    stats = pd.read_csv(out / f"{label}_stats.csv").set_index("Name")
    send, deliver = stats.loc["send"], stats.loc["deliver"]
    return {
        "sent_per_s": float(send["Requests/s"]),
        "send_failures": int(send["Failure Count"]),
        "send_p95_ms": float(send["95%"]),
        "delivered_per_s": float(deliver["Requests/s"]),
        "delivery_p95_ms": float(deliver["95%"]),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--senders", type=int, default=20)
    parser.add_argument("--room-size", type=int, default=3)
    parser.add_argument("--duration", type=int, default=20, help="seconds of load per server")
    parser.add_argument(
        "--send", nargs="+", choices=("http", "ws"), default=["http", "ws"], help="how msgfleet senders post"
    )
    args = parser.parse_args(argv)
    out = ROOT / "out" / "peer_synapse"  # /out/ is git-ignored
    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="peer-") as tmp:
        work = Path(tmp)
        (work / "synapse").mkdir()
        with Synapse(work / "synapse") as synapse:
            setup = synapse_rooms(synapse, args.senders, args.room_size)
            results["synapse"] = run_locust("synapse", setup, out, args.senders, args.duration)
        for send in args.send:
            with Fleet(["RU-MOW"], work / f"msgfleet-{send}", env=LOADTEST_NODE_ENV) as fleet:
                setup = msgfleet_rooms(fleet.urls["RU-MOW"], args.senders, args.room_size)
                results[f"msgfleet {send}"] = run_locust(
                    "msgfleet", setup, out, args.senders, args.duration, send
                )
    s = results["synapse"]
    ratios = {
        name: r["sent_per_s"] / s["sent_per_s"] if s["sent_per_s"] else float("inf")
        for name, r in results.items()
    }
    shape = f"{args.senders} senders, rooms of {args.room_size}, {args.duration} s each"
    print(f"workload: {shape}, loopback, SQLite, one server process each")
    head = f"{'sent/s':>9} {'delivered/s':>12} {'send p95 ms':>12} {'delivery p95 ms':>16} {'x synapse':>10}"
    print(f"{'':14} {head}")
    for name, r in results.items():
        print(f"{name:14} {r['sent_per_s']:9.1f} {r['delivered_per_s']:12.1f} {r['send_p95_ms']:12.0f} "
              f"{r['delivery_p95_ms']:16.0f} {ratios[name]:10.2f}")  # fmt: skip
    print("bar: msgfleet >= 20x synapse's throughput")
    (out / "peer_synapse.json").write_text(json.dumps({**results, "ratios": ratios, **vars(args)}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
