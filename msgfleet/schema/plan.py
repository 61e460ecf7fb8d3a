"""Pydantic models of a rollout plan.

One plan file drives all of msgfleet: the simulator reads its geography, phases, demand and
prices; the load tests read its behaviour mix and SLOs and write back a calibrated plan; the
Pulumi program provisions its phase's sites. Defaults that are facts cite their source here or
in docs/SOURCES.md; defaults that are measurements say which load test produced them.
"""

from __future__ import annotations

from typing import Literal

import pycountry
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from msgfleet.schema.states import StateId

MAX_HORIZON_DAYS = 18_263
"""50 years: longer horizons are not plans (and the daily model holds days × states arrays)."""


COTURN_RELAY_PORTS = (49152, 65535)
"""coturn's default min-port / max-port (docs/SOURCES.md)."""
LOAD_BALANCER_RELAY_PORTS = (49152, 49252)
"""Relay ports a LoadBalancer Service lists one by one (101 ports)."""


class StrictModel(BaseModel):
    """Unknown fields are errors: a typo in a plan must not be silently ignored; so are .inf/.nan."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Site(StrictModel):
    """A state where a messenger node may run (a candidate site)."""

    state: StateId
    fixed_cost_per_month: float = Field(0.0, ge=0, description="Rent, staff, licences, per month.")
    kube_context: str | None = Field(None, description="kubeconfig context of this site's cluster.")


class Phase(StrictModel):
    """Sites opened together at ``start_day``; a phase keeps the sites of earlier phases."""

    name: str = Field(min_length=1)
    start_day: int = Field(ge=0, le=MAX_HORIZON_DAYS)
    sites: list[StateId] = Field(min_length=1)


class Link(StrictModel):
    """An explicit backbone link between two states (added to the generated topology)."""

    a: StateId
    b: StateId
    latency_ms: float | None = Field(None, gt=0, description="Measured one-way latency, if known.")


class SLO(StrictModel):
    max_rtt_ms: float = Field(60.0, gt=0, description="Client-to-home-site round trip a live state may have.")
    delivery_p95_ms: float = Field(300.0, gt=0, description="Send-to-receive p95 at the busy hour.")
    error_rate: float = Field(0.01, ge=0, le=1)


class Adoption(StrictModel):
    """Bass diffusion per live state.

    p = 0.03, q = 0.38 per year: mean coefficients of the meta-analysis by Sultan, Farley &
    Lehmann (1990), "A Meta-Analysis of Applications of Diffusion Models", J. Marketing Research
    27(1), also quoted by Mahajan, Muller & Bass (1995).
    """

    p: float = Field(0.03, gt=0, lt=1, description="Coefficient of innovation, per year.")
    q: float = Field(0.38, ge=0, lt=5, description="Coefficient of imitation, per year.")
    market_share: float = Field(
        0.85, gt=0, le=1, description="Share of a live state's population that adopts eventually (m)."
    )


class Demand(StrictModel):
    """Per active user. Sources in docs/SOURCES.md (WhatsApp public figures, mattermost-load-test-ng)."""

    messages_per_user_day: float = Field(50.0, ge=0)
    reply_ratio: float = Field(0.18, ge=0, le=1, description="Replies per received message.")
    call_minutes_per_user_day: float = Field(1.3, ge=0)
    busy_hour_factor: float = Field(
        0.1, gt=0, le=1, description="Share of a day's traffic in its busiest hour."
    )
    media_mb_per_user_day: float = Field(2.0, ge=0)
    cross_state_share: float = Field(
        0.2, ge=0, le=1, description="Share of messages whose recipient is homed in another state."
    )
    media_retention_days: int = Field(90, gt=0, description="Days media stays stored (sizes storage cost).")


class Capacity(StrictModel):
    """What one node process (pod) sustains; replaced by `msgfleet calibrate` with measurements."""

    messages_per_s_per_pod: float = Field(500.0, gt=0)
    service_time_ms_mean: float = Field(2.0, gt=0)
    service_time_cv: float = Field(1.0, ge=0, description="Coefficient of variation of service time.")
    requests_per_message: float = Field(
        0.0,
        ge=0,
        description="Other requests (reads, syncs, receipts, call signalling) a pod serves per message; "
        "they share the pods' queue with messages (calibrated from the load test's mix).",
    )
    pod_cpu: float = Field(1.0, gt=0, description="CPU cores requested per pod.")
    pod_memory_mib: int = Field(512, gt=0)
    min_pods: int = Field(2, ge=1, le=100_000)
    max_pods: int = Field(50, ge=1, le=100_000)
    headroom: float = Field(0.3, ge=0, description="Extra capacity kept above the busy-hour need.")
    turn_channels_per_relay: int = Field(500, gt=0)
    source: str = Field("plan default (not yet calibrated)", description="Where these figures come from.")

    @model_validator(mode="after")
    def _pods_ordered(self) -> Capacity:
        if self.max_pods < self.min_pods:
            raise ValueError(f"max_pods ({self.max_pods}) is below min_pods ({self.min_pods})")
        return self


class Calls(StrictModel):
    # 1% blocking (P.01) is the customary grade of service for circuit dimensioning (ITU-T E.520).
    grade_of_service: float = Field(0.01, gt=0, lt=1)
    mean_duration_s: float = Field(180.0, gt=0)


class UnitPrices(StrictModel):
    currency: str = Field("RUB", min_length=3, max_length=3)
    pod_month: float = Field(6000.0, ge=0)
    turn_channel_month: float = Field(15.0, ge=0)
    storage_gb_month: float = Field(3.0, ge=0)


class UsageSegment(StrictModel):
    """A share of users whose use is ``usage_multiplier`` times the mean (the plan mix of tariffs)."""

    name: str = Field(min_length=1)
    share: float = Field(gt=0, le=1)
    usage_multiplier: float = Field(ge=0)


class TariffPlan(StrictModel):
    """A plan the node bills by; ``family``/``business`` plans pool one allowance over up to ``max_members``.

    Unset allowances and prices fall back to the policy's free tier (per member) and per-unit prices.
    """

    name: str = Field(min_length=1, max_length=40, pattern=r"^[a-z0-9_-]+$")
    kind: Literal["individual", "family", "business"] = "individual"
    max_members: int = Field(1, ge=1)
    monthly_fee: float = Field(0.0, ge=0)
    included_minutes: float | None = Field(
        None, ge=0, description="Pool per period; default free tier × members."
    )
    included_messages: float | None = Field(
        None, ge=0, description="Pool per period; default free tier × members."
    )
    price_per_extra_minute: float | None = Field(None, ge=0)
    price_per_1000_messages: float | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _individual_is_one(self) -> TariffPlan:
        if self.kind == "individual" and self.max_members != 1:
            raise ValueError(f"individual plan {self.name!r} must have max_members 1")
        return self


class TariffPolicy(StrictModel):
    """How tariffs are derived from cost and observed use (sim) and billed (messenger)."""

    margin: float = Field(0.2, ge=0, description="Markup over cost.")
    free_minutes_per_user_month: float = Field(100.0, ge=0)
    free_messages_per_user_month: float = Field(3000.0, ge=0)
    minute_rounding: Literal["per_second", "per_minute_up"] = "per_minute_up"
    price_per_extra_minute: float | None = Field(None, ge=0, description="Set by the simulator/calibration.")
    price_per_1000_messages: float | None = Field(None, ge=0, description="Set by the simulator/calibration.")
    plan_mix: list[UsageSegment] = Field(
        default_factory=lambda: [
            UsageSegment(name="light", share=0.6, usage_multiplier=0.4),
            UsageSegment(name="regular", share=0.3, usage_multiplier=1.2),
            UsageSegment(name="heavy", share=0.1, usage_multiplier=4.0),
        ],
        description="User segments by usage; the free tier applies per user, so only heavier segments pay.",
    )
    plans: list[TariffPlan] = Field(
        default_factory=lambda: [TariffPlan(name="basic")],
        min_length=1,
        description="Plans the node bills by (messenger MSGFLEET_TARIFFS); the first is everyone's default.",
    )

    @field_validator("plans")
    @classmethod
    def _unique_plan_names(cls, plans: list[TariffPlan]) -> list[TariffPlan]:
        names = [p.name for p in plans]
        if len(set(names)) != len(names):
            raise ValueError(f"plan names must be unique, got {names}")
        return plans

    @field_validator("plan_mix")
    @classmethod
    def _shares_sum_to_one(cls, mix: list[UsageSegment]) -> list[UsageSegment]:
        total = sum(seg.share for seg in mix)
        if mix and abs(total - 1) > 1e-6:
            raise ValueError(f"plan_mix shares must sum to 1, got {total:g}")
        return mix


class KneeSearch(StrictModel):
    """Knee finding: step users up, back off on SLO breach, halve the step until it is this fine.

    Search knobs, not facts; in the spirit of mattermost-load-test-ng's coordinator.
    """

    start_users: int = Field(10, ge=1)
    step_users: int = Field(40, ge=1, description="First increase; halved after each breach.")
    resolution_users: int = Field(10, ge=1, description="Stop when the knee is bracketed this tightly.")
    max_users: int = Field(2000, ge=1)
    spawn_rate: float = Field(50.0, gt=0, description="Users started per second.")
    warmup_s: float = Field(5.0, ge=0, description="Part of each step not measured.")
    measure_s: float = Field(15.0, gt=0, description="Measured part of each step.")
    max_steps: int = Field(20, ge=1)


class Calibration(StrictModel):
    """What `msgfleet calibrate` measured, and the run it measured it in."""

    run: str = Field(description="Load-test result directory.")
    nodes: int = Field(ge=1)
    supported_users: int | None = Field(None, ge=0)
    messages_per_s_at_slo: float = Field(ge=0)
    messages_per_s_per_cpu: float | None = Field(None, ge=0)
    delivery_p95_ms_at_slo: float | None = Field(None, ge=0)
    messages_per_active_user_hour: float = Field(ge=0)
    replies_per_active_user_hour: float | None = Field(None, ge=0, description="None: not metered.")
    call_minutes_per_active_user_hour: float | None = Field(None, ge=0, description="None: not metered.")
    sim_p95_max_error: float | None = Field(None, ge=0, description="Max |predicted/measured - 1| of p95.")
    reserved_pods: dict[StateId, int] = Field(
        default_factory=dict, description="Pods to reserve per state of the next phase."
    )


class LoadTestMix(StrictModel):
    """Behaviour weights and think times of simulated users (loadtests/).

    Defaults follow mattermost-load-test-ng's action weights (post ~6.5%, 18% of posts are replies,
    most actions are reads/switches); see docs/SOURCES.md.
    """

    weights: dict[str, float] = Field(
        default_factory=lambda: {
            "private_send": 6.5,
            "reply": 1.5,
            "group_send": 3.0,
            "read_sync": 42.0,
            "channel_post": 0.5,
            "channel_read": 20.0,
            "call": 0.5,
            "media_send": 1.0,
            "idle": 25.0,
        }
    )
    think_time_s: tuple[float, float] = (1.0, 5.0)
    call_duration_s: tuple[float, float] = (30.0, 300.0)
    group_size: int = Field(5, ge=2, description="Members of each simulated group.")
    traffic_matrix: dict[StateId, dict[StateId, float]] = Field(
        default_factory=dict,
        description="Sender state -> recipient state weights; empty: demand.cross_state_share, uniform.",
    )
    knee: KneeSearch = KneeSearch()

    @field_validator("weights")
    @classmethod
    def _positive_weights(cls, weights: dict[str, float]) -> dict[str, float]:
        bad = {k: v for k, v in weights.items() if v < 0}
        if bad:
            raise ValueError(f"weights must be >= 0, got {bad}")
        if not any(weights.values()):
            raise ValueError("at least one weight must be positive")
        return weights


class Operators(StrictModel):
    """Kubernetes operators installed in the sites' clusters (their CRDs may then be used)."""

    cloudnative_pg: bool = Field(False, description="CloudNativePG: PostgreSQL as a `Cluster` resource.")
    prometheus_operator: bool = Field(False, description="Prometheus operator: `ServiceMonitor` resources.")


class SiteLoad(StrictModel):
    """A site's busy-hour load, which ``msgfleet.sizing`` turns into pods, TURN channels and relays."""

    messages_per_s: float = Field(ge=0, description="Messages/s it handles (own users' + federated copies).")
    erlangs: float = Field(ge=0, description="Call Erlangs its users offer to its TURN relays.")


class InfraSettings(StrictModel):
    """How infra/ provisions a site; the sizes come from `capacity` and `demand`.

    Storage defaults are small starting volumes meant to be grown; 1.31 is a Kubernetes minor
    release in upstream support in 2025-26 (https://kubernetes.io/releases/).
    """

    kubernetes_version: str = Field("1.31.0", pattern=r"^\d+\.\d+(\.\d+)?$")
    operators: Operators = Operators()
    image: str = Field("ghcr.io/msgfleet/node:0.1.0", description="Node image; a stack may override it.")
    domain: str = Field("msgfleet.example", description="Site hosts are <state-lowercase>.<domain>.")
    ingress_class: str = "nginx"
    ingress_namespace: str = Field("ingress-nginx", description="Namespace of the ingress controller.")
    tls_cluster_issuer: str | None = Field(None, description="cert-manager ClusterIssuer for the TLS secret.")
    storage_class: str | None = Field(None, description="None: the cluster's default StorageClass.")
    database_storage_gib: int = Field(20, gt=0)
    database_instances: int = Field(1, ge=1, description="CloudNativePG instances (1 primary + replicas).")
    redis_storage_gib: int = Field(2, gt=0)
    media_store: Literal["minio", "s3"] = Field("minio", description="s3: an external bucket via a Secret.")
    media_storage_gib: int = Field(50, gt=0)
    node_data_gib: int = Field(1, gt=0, description="Scratch volume mounted at /data in each node pod.")
    turn_exposure: Literal["load_balancer", "host_network"] = "load_balancer"
    turn_port: int = Field(3478, gt=0, lt=65536, description="STUN/TURN listening port (RFC 8656).")
    turn_relay_ports: tuple[int, int] = Field(
        COTURN_RELAY_PORTS,
        description="UDP relay port range (min-port, max-port). Default: coturn's own, 49152-65535, with "
        "turn_exposure host_network; 49152-49252 with load_balancer, whose Service must list every port.",
    )
    hpa_cpu_utilization: int = Field(70, gt=0, le=100, description="HPA target average CPU utilisation, %.")
    design_users: dict[StateId, int] = Field(
        default_factory=dict,
        description="Active users each site is sized for (from the simulator); unlisted: min_pods.",
    )
    design_load: dict[StateId, SiteLoad] = Field(
        default_factory=dict,
        description="Busy-hour load each site is sized for (from the simulator's traffic model); "
        "unlisted: from design_users with a flat cross_state_share.",
    )
    peer_cidrs: dict[StateId, list[str]] = Field(
        default_factory=dict,
        description="Egress addresses of each site (multi-cluster federation allow-lists).",
    )

    @model_validator(mode="before")
    @classmethod
    def _default_relay_ports(cls, data: object) -> object:
        # A Kubernetes Service lists each port (no ranges), so a LoadBalancer gets a short range.
        behind_lb = isinstance(data, dict) and data.get("turn_exposure", "load_balancer") == "load_balancer"
        if behind_lb and isinstance(data, dict) and "turn_relay_ports" not in data:
            return {**data, "turn_relay_ports": LOAD_BALANCER_RELAY_PORTS}
        return data

    @field_validator("turn_relay_ports")
    @classmethod
    def _port_range(cls, ports: tuple[int, int]) -> tuple[int, int]:
        low, high = ports
        if not 1024 <= low <= high <= 65535:
            raise ValueError(f"relay ports must satisfy 1024 <= low <= high <= 65535, got {low}-{high}")
        return ports


class Network(StrictModel):
    """Backbone latency (sim.topology): one-way = great-circle km × route_inflation ×
    fiber_us_per_km + per_hop_ms on a proximity link; route km × corridor_inflation ×
    fiber_us_per_km + per_hop_ms on a documented corridor.

    4.9 µs/km: light in silica fibre (group index ~1.47, ITU-T G.652 fibre) travels ~204,000 km/s.
    route_inflation 1.5 and corridor_inflation 1.4: fitted on backbone paths to the measured RTTs
    of sim/data/rtt_measured.csv (11 of 12 RU/US pairs within 20%; docs/SIM.md). A single
    city-to-city link would need ~2.1 (Bozkurt et al., PAM 2017: minimum pings ~3.1× the vacuum
    c-latency); a path of proximity links already zig-zags. docs/SOURCES.md has the rest.
    """

    fiber_us_per_km: float = Field(4.9, gt=0)
    route_inflation: float = Field(1.5, ge=1)
    corridor_inflation: float = Field(
        1.4, ge=1, description="Fibre length per route km of a corridor, slack and detours included."
    )
    max_link_km: float = Field(
        2000.0, gt=0, description="Proximity links longer than this are dropped unless a corridor exists."
    )
    per_hop_ms: float = Field(0.2, ge=0, description="One-way router/queueing cost per backbone hop.")
    access_rtt_ms: float = Field(
        15.0, ge=0, description="Last-mile round trip to the first backbone router (docs/SOURCES.md)."
    )


class Population(StrictModel):
    """Where each state's population comes from (sim.geography; docs/SIM.md).

    Countries with a shipped official table (RU, US, DE) use it; for others give ``table``, a CSV
    with columns ``iso_3166_2,population`` (one row per state, path relative to the working
    directory), or set ``geonames_estimate`` to accept GeoNames place populations scaled up, which
    miss villages and mis-assign districts (FR comes out at 43.5 M instead of 68 M).
    """

    table: str | None = Field(
        None, min_length=1, description="CSV iso_3166_2,population; overrides the shipped table."
    )
    geonames_estimate: bool = Field(False, description="Accept GeoNames place sums where no table exists.")


class Economics(StrictModel):
    """How the cash flow is discounted and over what horizon tariffs recover cost (sim.economics).

    recovery_years 5: the recovery period of computers and information systems under the US
    MACRS depreciation schedule (IRS Publication 946, Table B-1, asset class 00.12: 5 years), the
    span over which the servers a phase buys are written off. A planner who must break even
    sooner sets it lower (docs/SIM.md).
    """

    discount_rate: float = Field(
        0.1,
        ge=0,
        le=1,
        description="Annual rate for the NPV: the operator's cost of capital (a placeholder).",
    )
    recovery_years: float = Field(
        5.0,
        gt=0,
        le=MAX_HORIZON_DAYS / 365.25,
        description="Years from launch over which the tariffs recover cost; a phase opening later "
        "recovers its own cost over its first recovery_years.",
    )


class LatencySim(StrictModel):
    """Sampling of the busy-hour SimPy model (sim/latency.py)."""

    sample_fraction: float = Field(1e-3, gt=0, le=1, description="Share of busy-hour traffic simulated.")
    duration_s: float = Field(
        120.0, gt=0, le=3600, description="Simulated seconds per replication (after warm-up)."
    )
    warmup_s: float = Field(10.0, ge=0, le=3600)
    replications: int = Field(8, ge=2, le=1000)
    seed: int = Field(1, ge=0)


class Plan(StrictModel):
    """A rollout plan: which states open in which phase, and the figures that size them."""

    name: str = Field(min_length=1)
    country: str = Field("RU", description="ISO 3166-1 alpha-2 code.")
    target_coverage: float = Field(0.60, gt=0, le=1)
    coverage_metric: Literal["reach", "active_users"] = "reach"
    residency: Literal["home_state", "national"] = Field(
        "home_state", description="home_state: users are homed at their own state's site only."
    )
    horizon_days: int = Field(
        3650, gt=0, le=MAX_HORIZON_DAYS, description="Days simulated (at most 50 years)."
    )
    sites: list[Site] = Field(min_length=1)
    phases: list[Phase] = Field(default_factory=list)
    links: list[Link] = Field(default_factory=list)
    slo: SLO = SLO()
    adoption: Adoption = Adoption()
    demand: Demand = Demand()
    capacity: Capacity = Capacity()
    calls: Calls = Calls()
    prices: UnitPrices = UnitPrices()
    tariffs: TariffPolicy = TariffPolicy()
    loadtest: LoadTestMix = LoadTestMix()
    calibration: Calibration | None = None
    infra: InfraSettings = InfraSettings()
    network: Network = Network()
    latency: LatencySim = LatencySim()
    population: Population = Population()
    economics: Economics = Economics()

    @field_validator("country")
    @classmethod
    def _known_country(cls, code: str) -> str:
        if pycountry.countries.get(alpha_2=code) is None:
            raise ValueError(f"{code!r} is not an ISO 3166-1 alpha-2 country code")
        return code

    @model_validator(mode="after")
    def _consistent(self) -> Plan:
        prefix = f"{self.country}-"
        for site in self.sites:
            if not site.state.startswith(prefix):
                raise ValueError(f"site {site.state} is not in country {self.country}")
        seen = [s.state for s in self.sites]
        if len(set(seen)) != len(seen):
            raise ValueError("a state is listed twice in sites")
        known = set(seen)
        for field, by_state in (
            ("design_users", self.infra.design_users),
            ("design_load", self.infra.design_load),
            ("peer_cidrs", self.infra.peer_cidrs),
        ):
            stray = sorted(set(by_state) - known)
            if stray:
                raise ValueError(f"infra.{field} names {stray}, which are not in sites")
        opened: set[str] = set()
        last_day = -1
        for phase in self.phases:
            unknown = sorted(set(phase.sites) - known)
            if unknown:
                raise ValueError(f"phase {phase.name!r} opens {unknown}, which are not in sites")
            again = sorted(set(phase.sites) & opened)
            if again:
                raise ValueError(f"phase {phase.name!r} opens {again} again")
            if phase.start_day <= last_day:
                raise ValueError(f"phase {phase.name!r} must start after the previous phase")
            if phase.start_day > self.horizon_days:
                raise ValueError(
                    f"phase {phase.name!r} starts on day {phase.start_day}, after horizon_days "
                    f"({self.horizon_days})"
                )
            opened |= set(phase.sites)
            last_day = phase.start_day
        return self

    def site(self, state: str) -> Site:
        for site in self.sites:
            if site.state == state:
                return site
        raise KeyError(f"{state} is not a site of plan {self.name!r}")

    def live_sites(self, phase_index: int) -> list[str]:
        """States live in phase ``phase_index`` (1-based): those opened by it and all before it."""
        if not 1 <= phase_index <= len(self.phases):
            raise IndexError(f"plan {self.name!r} has phases 1..{len(self.phases)}, not {phase_index}")
        return [s for phase in self.phases[:phase_index] for s in phase.sites]
