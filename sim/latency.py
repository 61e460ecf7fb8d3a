"""Busy-hour delivery latency: a SimPy model of messages and call set-ups between states.

Route: client --(access, backbone)--> home site --(backbone, federation)--> recipient's home
site --(backbone, access)--> recipient. Each pod is its own FCFS queue (sim.pool) and the site's
load balancer sends each request to a pod picked at random, as kube-proxy does (a Service's
iptables/nftables rules choose an endpoint at random; docs/SOURCES.md); a random split of a
Poisson stream is Poisson, so each pod is an M/G/1 queue at 1/pods of the site's rate. Service
times have the plan's mean and coefficient of variation (gamma; exponential at cv = 1).
Messages arrive per state as Poisson streams at the busy-hour rate; recipients follow a gravity
model (population product over distance), with ``1 - cross_state_share`` of them in the sender's
own state.

Sampling: the model simulates ``k = max(1, round(pods × sample_fraction))`` of a site's pods,
each still its own queue, with k/pods of the site's traffic (the users of those pods): every
simulated pod sees exactly the arrival process it would see at full scale, so sampling thins
users and messages and never merges servers (the p95 does not move with ``sample_fraction``). When two
sites sample different shares, federated messages are thinned (and background arrivals added) so
each pool still sees its own share; recorded latencies carry weights that undo the sampling.
Replications (seeded from one ``SeedSequence``) give confidence intervals.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import pandas as pd
import simpy

from msgfleet.schema import Plan
from msgfleet.sizing import call_erlangs
from sim.capacity import size_site, sizings_of
from sim.errors import SimError
from sim.executor import run_jobs
from sim.geography import great_circle_km
from sim.pool import Pool
from sim.timeline import Timeline, build_timeline
from sim.traffic import busy_hour_rate, gravity, site_loads

__all__ = [
    "Estimate",
    "LatencyRun",
    "Replication",
    "Scenario",
    "predict_p95",
    "replicate",
    "run_latency",
    "scenario",
    "simulate_mmc",
    "sweep_loads",
    "sweep_warnings",
    "weighted_quantile",
    "write_latency",
]

MESSAGE, CALL_SETUP, BACKGROUND = 0, 1, 2
KINDS = {MESSAGE: "message", CALL_SETUP: "call_setup"}


@dataclass(frozen=True, eq=False)
class Scenario:
    """Everything one replication needs, validated once; plain arrays so it pickles cheaply."""

    phase: int
    phase_name: str
    sites: tuple[str, ...]
    pods: np.ndarray  # per site
    servers: np.ndarray  # simulated pods per site
    states: tuple[str, ...]  # live states
    home: np.ndarray  # site index per state
    msg_rate: np.ndarray  # busy-hour messages/s per state (full scale)
    call_rate: np.ndarray  # busy-hour call set-ups/s per state
    dest_prob: np.ndarray = field(repr=False)  # [origin, destination], reachable pairs only
    one_way_ms: np.ndarray = field(repr=False)  # [state, state] backbone one-way
    access_one_way_ms: float
    service_mean_s: float
    service_cv: float
    duration_s: float
    warmup_s: float
    slo_ms: float
    undeliverable_share: float = 0.0  # of messages, to recipients cut off by a partition
    requests_per_message: float = 0.0  # other requests the home site serves per message (background)
    capped: tuple[str, ...] = ()  # sites whose pods are held at capacity.max_pods

    @property
    def scale(self) -> np.ndarray:
        return self.servers / self.pods

    def offered_utilisation(self) -> np.ndarray:
        """Per site: the work offered per second over its pods (demand / capacity; > 1 overloaded).

        A site serves its own users' messages, call set-ups and other requests, and the federated
        copies of messages and set-ups to the users it homes from users homed elsewhere.
        """
        n_sites = len(self.sites)
        own = np.bincount(
            self.home, self.msg_rate * (1 + self.requests_per_message) + self.call_rate, n_sites
        )
        flow = (self.msg_rate + self.call_rate)[:, None] * self.dest_prob
        foreign = self.home[:, None] != self.home[None, :]
        inbound = np.bincount(self.home, (flow * foreign).sum(axis=0), n_sites)
        return (own + inbound) * self.service_mean_s / self.pods


def scenario(
    plan: Plan,
    phase_index: int | None = None,
    load_msgs_per_s: float | None = None,
    timeline: Timeline | None = None,
) -> Scenario:
    """The busy hour at the end of phase ``phase_index`` (default: the last).

    ``load_msgs_per_s`` rescales the busy-hour message rate of all states to that national total
    (the calibration step compares it with a measured load).
    """
    timeline = timeline or build_timeline(plan)
    k = phase_index or len(timeline.phases)
    _, last = timeline.window(k)
    sized = {z.state: z for z in sizings_of(timeline, k)}
    homes = timeline.homes[k - 1]
    if not homes:
        raise SimError(f"phase {k} of plan {plan.name!r} covers no state within the SLO")
    st = timeline.states
    live = sorted(homes)
    idx = np.array([st.index(s) for s in live])
    sites = tuple(plan.live_sites(k))
    users = timeline.users[last, idx]
    d = plan.demand
    msg_rate = busy_hour_rate(plan, users)
    if load_msgs_per_s is not None:
        if load_msgs_per_s <= 0 or msg_rate.sum() <= 0:
            raise SimError(
                f"load must be > 0 messages/s and the phase must have users, got {load_msgs_per_s}"
            )
        factor = load_msgs_per_s / msg_rate.sum()
        msg_rate = msg_rate * factor
        users = users * factor
    erlangs = call_erlangs(d, users)
    call_rate = erlangs / plan.calls.mean_duration_s
    pods = np.array([sized[s].pods for s in sites], dtype=float)
    capped = tuple(s for s in sites if sized[s].capped)
    if load_msgs_per_s is not None:  # size pods for the given load, as the site would be
        site_users = timeline.site_users(k, last)
        loads = site_loads(timeline, k, last)
        resized = [size_site(plan, s, k, site_users[s] * factor, loads[s] * factor) for s in sites]
        pods = np.array([z.pods for z in resized], dtype=float)
        capped = tuple(z.state for z in resized if z.capped)
    servers = np.maximum(1, np.round(pods * plan.latency.sample_fraction)).astype(float)
    dist = great_circle_km(st.lat[idx, None], st.lon[idx, None], st.lat[None, idx], st.lon[None, idx])
    backbone_rtt = timeline.rtt_ms[np.ix_(idx, idx)] - plan.network.access_rtt_ms
    recipients = gravity(st.population[idx], dist, d.cross_state_share)
    reachable = np.isfinite(backbone_rtt)
    lost = float(
        (msg_rate[:, None] * np.where(reachable, 0.0, recipients)).sum() / max(msg_rate.sum(), 1e-12)
    )
    recipients = np.where(reachable, recipients, 0.0)
    recipients = recipients / recipients.sum(axis=1, keepdims=True)
    return Scenario(
        phase=k,
        phase_name=timeline.phases[k - 1].name,
        sites=sites,
        pods=pods,
        servers=servers,
        states=tuple(live),
        home=np.array([sites.index(homes[s]) for s in live]),
        msg_rate=msg_rate,
        call_rate=call_rate,
        dest_prob=recipients,
        one_way_ms=np.where(reachable, backbone_rtt, 0.0) / 2,
        access_one_way_ms=plan.network.access_rtt_ms / 2,
        service_mean_s=plan.capacity.service_time_ms_mean / 1000,
        service_cv=plan.capacity.service_time_cv,
        duration_s=plan.latency.duration_s,
        warmup_s=plan.latency.warmup_s,
        slo_ms=plan.slo.delivery_p95_ms,
        undeliverable_share=lost,
        requests_per_message=plan.capacity.requests_per_message,
        capped=capped,
    )


def _service_times(rng: np.random.Generator, mean: float, cv: float, n: int) -> np.ndarray:
    if cv == 0:
        return np.full(n, mean)
    shape = 1 / cv**2
    return rng.gamma(shape, mean / shape, n)


@dataclass(frozen=True, eq=False)
class Replication:
    """Flat records of one replication (measured window only)."""

    kind: np.ndarray
    origin: np.ndarray
    destination: np.ndarray
    latency_ms: np.ndarray
    weight: np.ndarray
    utilisation: np.ndarray  # per site: the share of time its simulated pods were busy
    messages: int  # simulated arrivals, including warm-up and background


def _arrivals(sc: Scenario, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """All arrivals at home sites, time-sorted: (time, kind, origin, destination)."""
    horizon = sc.warmup_s + sc.duration_s
    scale = sc.scale[sc.home]
    times, kinds, origins, dests = [], [], [], []
    for kind, rate in ((MESSAGE, sc.msg_rate), (CALL_SETUP, sc.call_rate)):
        counts = rng.poisson(rate * scale * horizon)
        origin = np.repeat(np.arange(len(sc.states)), counts)
        cum = np.cumsum(sc.dest_prob, axis=1)
        u = rng.random(origin.size)
        dest = np.minimum((u[:, None] > cum[origin]).sum(axis=1), len(sc.states) - 1)
        times.append(rng.random(origin.size) * horizon)
        kinds.append(np.full(origin.size, kind))
        origins.append(origin)
        dests.append(dest)
    # Background: the other requests (reads, syncs, receipts) that users send their home site with
    # each message; they occupy its pods like messages do but are not recorded.
    counts = rng.poisson(sc.msg_rate * sc.requests_per_message * scale * horizon)
    own = np.repeat(np.arange(len(sc.states)), counts)
    times.append(rng.random(own.size) * horizon)
    kinds.append(np.full(own.size, BACKGROUND))
    origins.append(own)
    dests.append(own)
    # Background: federated arrivals a pool must see beyond the continuing sampled ones.
    site_scale = sc.scale
    for kind, rate in ((BACKGROUND, sc.msg_rate + sc.call_rate),):
        flow = rate[:, None] * sc.dest_prob  # full-scale origin -> destination rate
        a_site, b_site = sc.home[:, None], sc.home[None, :]
        extra = np.where(
            a_site != b_site, flow * np.maximum(0.0, site_scale[b_site] - site_scale[a_site]), 0.0
        )
        counts = rng.poisson(extra * horizon)
        pairs = np.repeat(np.arange(counts.size), counts.ravel())
        times.append(rng.random(pairs.size) * horizon)
        kinds.append(np.full(pairs.size, kind))
        origins.append(pairs // len(sc.states))
        dests.append(pairs % len(sc.states))
    t = np.concatenate(times)
    order = np.argsort(t, kind="stable")
    return (
        t[order],
        np.concatenate(kinds)[order],
        np.concatenate(origins)[order],
        np.concatenate(dests)[order],
    )


def replicate(sc: Scenario, seed: int | np.random.SeedSequence) -> Replication:
    """One seeded replication of the busy hour of ``sc``."""
    rng = np.random.default_rng(seed)
    t, kind, origin, dest = _arrivals(sc, rng)
    n = t.size
    svc_a = _service_times(rng, sc.service_mean_s, sc.service_cv, n).tolist()
    svc_b = _service_times(rng, sc.service_mean_s, sc.service_cv, n).tolist()
    keep = rng.random(n).tolist()
    # the load balancer's random pick of a pod at each end (an index into the site's pods)
    pick_a = rng.random(n).tolist()
    pick_b = rng.random(n).tolist()
    pools = [[Pool(1) for _ in range(int(s))] for s in sc.servers]
    npods = [len(p) for p in pools]
    home = sc.home.tolist()
    scale = sc.scale.tolist()
    site_state = [sc.states.index(site) for site in sc.sites]
    one_way = sc.one_way_ms / 1000
    # Fixed legs: client -> access -> backbone to the home site, and the same at the far end.
    edge = (
        one_way[np.arange(len(sc.states)), np.array(site_state)[sc.home]] + sc.access_one_way_ms / 1000
    ).tolist()
    between = one_way[np.ix_(site_state, site_state)].tolist()
    warm = sc.warmup_s
    rec_i: list[int] = []
    rec_lat: list[float] = []
    rec_w: list[float] = []
    env = simpy.Environment()

    def far_site(i: int, sent: float, fixed: float, site_b: int, weight: float, _event: simpy.Event) -> None:
        done = pools[site_b][int(pick_b[i] * npods[site_b])].offer(env.now, svc_b[i])
        if sent >= warm:
            rec_i.append(i)
            rec_lat.append(done - sent + fixed)
            rec_w.append(weight)

    def source(env: simpy.Environment) -> Generator[simpy.Event, None, None]:
        tl, kl, ol, dl = t.tolist(), kind.tolist(), origin.tolist(), dest.tolist()
        for i in range(n):
            gap = tl[i] - env.now
            if gap > 0:
                yield env.timeout(gap)
            a, b = ol[i], dl[i]
            site_a, site_b = home[a], home[b]
            if kl[i] == BACKGROUND:
                pools[site_b][int(pick_b[i] * npods[site_b])].offer(env.now, svc_b[i])
                continue
            sent = env.now
            done = pools[site_a][int(pick_a[i] * npods[site_a])].offer(sent, svc_a[i])
            if site_a == site_b:
                if sent >= warm:
                    rec_i.append(i)
                    rec_lat.append(done - sent + edge[a] + edge[b])
                    rec_w.append(1 / scale[site_a])
                continue
            if keep[i] * scale[site_a] >= scale[site_b]:
                continue  # thinned: site b samples a smaller share of users than site a
            event = env.timeout(done - sent + between[site_a][site_b])
            weight = 1 / min(scale[site_a], scale[site_b])
            event.callbacks.append(partial(far_site, i, sent, edge[a] + edge[b], site_b, weight))

    env.process(source(env))
    env.run()
    idx = np.array(rec_i, dtype=np.int64)
    horizon = sc.warmup_s + sc.duration_s
    return Replication(
        kind=kind[idx].astype(np.int8),
        origin=origin[idx].astype(np.int32),
        destination=dest[idx].astype(np.int32),
        latency_ms=np.array(rec_lat) * 1000,
        weight=np.array(rec_w),
        utilisation=np.array([sum(p.busy_s for p in site) for site in pools])
        / (sc.servers * max(horizon, env.now)),
        messages=n,
    )


def weighted_quantile(values: np.ndarray, weights: np.ndarray, q: np.ndarray | float) -> np.ndarray:
    """Quantiles of ``values`` where each value counts ``weights`` times (inverted weighted CDF)."""
    order = np.argsort(values)
    v, w = np.asarray(values)[order], np.asarray(weights)[order]
    cum = np.cumsum(w)
    if cum.size == 0:
        return np.full(np.shape(q), np.nan)
    pos = np.searchsorted(cum, np.asarray(q) * cum[-1], side="left")
    return v[np.minimum(pos, v.size - 1)]


def _t_interval(samples: np.ndarray) -> tuple[float, float, float]:
    from scipy import stats

    samples = samples[np.isfinite(samples)]
    mean = float(np.mean(samples)) if samples.size else float("nan")
    if samples.size < 2:
        return mean, float("nan"), float("nan")
    half = float(stats.t.ppf(0.975, samples.size - 1) * np.std(samples, ddof=1) / np.sqrt(samples.size))
    return mean, mean - half, mean + half


@dataclass(frozen=True)
class Estimate:
    """A percentile estimated over replications, with its 95% confidence interval."""

    p95_ms: float
    ci_low_ms: float
    ci_high_ms: float
    replications: int


@dataclass(frozen=True, eq=False)
class LatencyRun:
    """Replications of the busy hour of each phase, as flat records."""

    plan: Plan
    scenarios: list[Scenario]
    records: pd.DataFrame  # phase, rep, kind, origin, destination, latency_ms, weight
    utilisation: pd.DataFrame  # phase, rep, site, utilisation
    simulated_messages: int

    def pairs(self) -> pd.DataFrame:
        """Per phase, kind and state pair: n, p50/p95/p99 (means over replications), p95 CI, SLO."""
        slo = self.plan.slo.delivery_p95_ms
        rows = []
        for key, group in self.records.groupby(["phase", "kind", "origin", "destination"], sort=True):
            per_rep = group.groupby("rep")["latency_ms"].quantile([0.5, 0.95, 0.99]).unstack()
            p95, low, high = _t_interval(per_rep[0.95].to_numpy())
            rows.append(
                {
                    "phase": key[0],
                    "kind": key[1],
                    "origin": key[2],
                    "destination": key[3],
                    "n": len(group),
                    "p50_ms": float(per_rep[0.5].mean()),
                    "p95_ms": p95,
                    "p95_ci_low_ms": low,
                    "p95_ci_high_ms": high,
                    "p99_ms": float(per_rep[0.99].mean()),
                    "over_slo_share": float((group["latency_ms"] > slo).mean()),
                    "slo_violated": bool(p95 > slo),
                }
            )
        return pd.DataFrame(rows)

    def overall(self, phase: int, kind: str = "message") -> Estimate:
        """Weighted p95 over all pairs of ``phase`` (weights undo the sampling), with CI."""
        data = self.records[(self.records["phase"] == phase) & (self.records["kind"] == kind)]
        per_rep = np.array(
            [
                weighted_quantile(g["latency_ms"].to_numpy(), g["weight"].to_numpy(), 0.95)
                for _, g in data.groupby("rep")
            ]
        )
        mean, low, high = _t_interval(per_rep)
        return Estimate(mean, low, high, int(per_rep.size))

    def cdf(self, points: int = 101) -> pd.DataFrame:
        """Weighted delivery-latency CDF of messages per phase (for charts)."""
        q = np.linspace(0, 1, points)
        frames = []
        for (phase, name), data in self.records[self.records["kind"] == "message"].groupby(
            ["phase", "phase_name"]
        ):
            lat = weighted_quantile(data["latency_ms"].to_numpy(), data["weight"].to_numpy(), q)
            frames.append(
                pd.DataFrame({"phase": phase, "phase_name": name, "quantile": q, "latency_ms": lat})
            )
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def warnings(self) -> list[str]:
        """One line per phase for overloaded sites, capped pod counts and a missed p95 SLO."""
        return list(self.summary()["warnings"])

    @staticmethod
    def _warnings_of(phases: list[dict]) -> list[str]:
        lines = []
        for row in phases:
            where = f"phase {row['phase']} {row['name']}"
            over = {s: v["utilisation"] for s, v in row["sites"].items() if v["over_capacity"]}
            named = ", ".join(f"{s} {u:.2f}" for s, u in sorted(over.items(), key=lambda kv: -kv[1]))
            if over:
                lines.append(f"{where}: over capacity (offered work / pods): {named}")
            if row["capped_sites"]:
                lines.append(f"{where}: pods capped at max_pods: {', '.join(row['capped_sites'])}")
            if not row["slo_met"]:
                busiest = max(row["sites"].items(), key=lambda kv: kv[1]["utilisation"])
                reason = (
                    f"overloaded: {named}"
                    if over
                    else f"busiest site {busiest[0]} at utilisation {busiest[1]['utilisation']:.2f}"
                )
                lines.append(
                    f"{where}: message p95 {row['message_p95_ms']:,.0f} ms misses the "
                    f"{row['slo_p95_ms']:g} ms SLO ({reason})"
                )
        return lines

    def summary(self) -> dict:
        phases = []
        for sc in self.scenarios:
            est = self.overall(sc.phase)
            busy = self.utilisation[self.utilisation["phase"] == sc.phase].groupby("site")["utilisation"]
            offered = sc.offered_utilisation()
            phases.append(
                {
                    "phase": sc.phase,
                    "name": sc.phase_name,
                    "busy_hour_messages_per_s": float(sc.msg_rate.sum()),
                    "sites": {
                        site: {
                            "pods": int(sc.pods[i]),
                            "simulated_pods": int(sc.servers[i]),
                            "utilisation": float(offered[i]),
                            "busy_share": float(busy.mean()[site]),
                            "over_capacity": bool(offered[i] > 1),
                            "capped": site in sc.capped,
                        }
                        for i, site in enumerate(sc.sites)
                    },
                    "over_capacity_sites": [s for i, s in enumerate(sc.sites) if offered[i] > 1],
                    "capped_sites": list(sc.capped),
                    "message_p95_ms": est.p95_ms,
                    "message_p95_ci_ms": [est.ci_low_ms, est.ci_high_ms],
                    "slo_p95_ms": sc.slo_ms,
                    "slo_met": bool(est.p95_ms <= sc.slo_ms),
                    "undeliverable_share": sc.undeliverable_share,
                }
            )
        return {
            "plan": self.plan.name,
            "country": self.plan.country,
            "replications": int(self.records["rep"].nunique()) if len(self.records) else 0,
            "sample_fraction": self.plan.latency.sample_fraction,
            "simulated_messages": self.simulated_messages,
            "phases": phases,
            "warnings": self._warnings_of(phases),
        }


def _job(sc: Scenario, seed: np.random.SeedSequence) -> Replication:
    return replicate(sc, seed)


def run_latency(
    plan: Plan,
    phases: list[int] | None = None,
    replications: int | None = None,
    scheduler: str | None = None,
    workers: int | None = None,
    load_msgs_per_s: float | None = None,
    on_done: Callable[[], None] | None = None,
    failed_links: tuple[tuple[str, str], ...] = (),
) -> LatencyRun:
    """Replicate the busy hour of each phase (default: all) on the chosen executor.

    Returns flat records; ``on_done`` is called after each replication (progress). Messages to
    states cut off by ``failed_links`` are not simulated; their share is in the summary.
    """
    timeline = build_timeline(plan, failed_links=failed_links)
    phases = phases or list(range(1, len(timeline.phases) + 1))
    reps = replications or plan.latency.replications
    scenarios = [scenario(plan, k, load_msgs_per_s, timeline) for k in phases]
    seeds = np.random.SeedSequence(plan.latency.seed).spawn(len(scenarios) * reps)
    jobs = [(sc, seeds[i * reps + r]) for i, sc in enumerate(scenarios) for r in range(reps)]
    results = run_jobs(_job, jobs, scheduler=scheduler, workers=workers, on_done=on_done)
    frames, utils = [], []
    for (sc, _), (j, res) in zip(jobs, enumerate(results), strict=True):
        rep = j % reps
        frames.append(
            pd.DataFrame(
                {
                    "phase": sc.phase,
                    "phase_name": sc.phase_name,
                    "rep": rep,
                    "kind": pd.Categorical.from_codes(res.kind, categories=[KINDS[0], KINDS[1]]),
                    "origin": np.array(sc.states)[res.origin],
                    "destination": np.array(sc.states)[res.destination],
                    "latency_ms": res.latency_ms,
                    "weight": res.weight,
                }
            )
        )
        utils.append(
            pd.DataFrame({"phase": sc.phase, "rep": rep, "site": sc.sites, "utilisation": res.utilisation})
        )
    records = pd.concat(frames, ignore_index=True)
    records["kind"] = records["kind"].astype(str)
    return LatencyRun(
        plan, scenarios, records, pd.concat(utils, ignore_index=True), sum(r.messages for r in results)
    )


def predict_p95(
    plan: Plan,
    load_msgs_per_s: float | None = None,
    phase_index: int | None = None,
    replications: int | None = None,
    scheduler: str | None = None,
    workers: int | None = None,
) -> Estimate:
    """Busy-hour message delivery p95 (ms, with 95% CI) at ``load_msgs_per_s`` national messages/s.

    Service times come from ``plan.capacity`` (calibrated plans carry measured ones); without a
    load, the phase's simulated busy hour is used.
    """
    timeline = build_timeline(plan)
    k = phase_index or len(timeline.phases)
    run = run_latency(plan, [k], replications, scheduler, workers, load_msgs_per_s)
    return run.overall(k)


def simulate_mmc(
    arrival_rate: float, service_rate: float, servers: int, customers: int, seed: int, warmup: int = 0
) -> float:
    """Mean queueing wait of a FCFS M/M/c run through the same SimPy source and :class:`Pool`."""
    rng = np.random.default_rng(seed)
    gaps = rng.exponential(1 / arrival_rate, customers).tolist()
    services = rng.exponential(1 / service_rate, customers).tolist()
    pool = Pool(servers)
    waits: list[float] = []
    env = simpy.Environment()

    def source(env: simpy.Environment) -> Generator[simpy.Event, None, None]:
        for gap, service in zip(gaps, services, strict=True):
            yield env.timeout(gap)
            waits.append(pool.offer(env.now, service) - env.now - service)

    env.process(source(env))
    env.run()
    return float(np.mean(waits[warmup:]))


def write_latency(run: LatencyRun, out: str) -> None:
    """Write ``latency.csv`` (per pair), ``latency_cdf.csv`` and ``summary.json`` into ``out``."""
    import json
    from pathlib import Path

    path = Path(out)
    path.mkdir(parents=True, exist_ok=True)
    run.pairs().to_csv(path / "latency.csv", index=False, float_format="%.6g")
    run.cdf().to_csv(path / "latency_cdf.csv", index=False, float_format="%.6g")
    summary_path = path / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    summary["latency"] = run.summary()
    summary_path.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")


def sweep_loads(
    plan: Plan,
    loads: list[float],
    phase_index: int | None = None,
    replications: int | None = None,
    scheduler: str | None = None,
    workers: int | None = None,
    on_done: Callable[[], None] | None = None,
) -> pd.DataFrame:
    """Message p95 (with CI) of one phase at each national busy-hour load, in one executor batch.

    Every load reuses the same replication seeds (common random numbers), so differences between
    loads are not sampling noise. Pods are sized for each load as the plan would size them.
    """
    if not loads:
        raise SimError("a sweep needs at least one load")
    timeline = build_timeline(plan)
    k = phase_index or len(timeline.phases)
    reps = replications or plan.latency.replications
    scenarios = [scenario(plan, k, load, timeline) for load in loads]
    seeds = np.random.SeedSequence(plan.latency.seed).spawn(reps)
    jobs = [(sc, seeds[r]) for sc in scenarios for r in range(reps)]
    results = run_jobs(_job, jobs, scheduler=scheduler, workers=workers, on_done=on_done)
    rows = []
    for i, (load, sc) in enumerate(zip(loads, scenarios, strict=True)):
        batch = results[i * reps : (i + 1) * reps]
        p95s = np.array(
            [
                weighted_quantile(r.latency_ms[r.kind == MESSAGE], r.weight[r.kind == MESSAGE], 0.95)
                for r in batch
            ]
        )
        mean, low, high = _t_interval(p95s)
        offered = sc.offered_utilisation()
        rows.append(
            {
                "phase": k,
                "load_msgs_per_s": load,
                "pods": int(sc.pods.sum()),
                "max_utilisation": float(offered.max()),
                "over_capacity_sites": " ".join(s for s, u in zip(sc.sites, offered, strict=True) if u > 1),
                "capped_sites": " ".join(sc.capped),
                "busy_share": float(np.mean([r.utilisation.mean() for r in batch])),
                "p95_ms": mean,
                "p95_ci_low_ms": low,
                "p95_ci_high_ms": high,
                "slo_p95_ms": sc.slo_ms,
            }
        )
    return pd.DataFrame(rows)


def sweep_warnings(table: pd.DataFrame) -> list[str]:
    """One line per swept load whose offered work exceeds some site's capacity or caps its pods."""
    lines = []
    for row in table.itertuples(index=False):
        problems = []
        if row.over_capacity_sites:
            problems.append(
                f"over capacity (utilisation up to {row.max_utilisation:.2f}): {row.over_capacity_sites}"
            )
        if row.capped_sites:
            problems.append(f"pods capped at max_pods: {row.capped_sites}")
        if problems:
            lines.append(f"{row.load_msgs_per_s:,.0f} msg/s: " + "; ".join(problems))
    return lines
