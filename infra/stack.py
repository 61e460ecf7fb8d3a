"""A stack's settings (``Pulumi.<stack>.yaml``): which plan, which phase, which image, which clusters.

``pulumi up`` reads them through ``pulumi.Config``; ``msgfleet infra render`` reads the same file
with :func:`load_stack_file`, so both paths build the same :class:`StackConfig`.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from infra.errors import InfraError
from msgfleet.schema import Plan, load_plan

PROJECT = "msgfleet"
EXAMPLE_DOMAIN = "msgfleet.example"
TURN_EXPOSURES = ("load_balancer", "node_port", "host_network")
ROOT = Path(__file__).resolve().parents[1]
"""The project root: where ``Pulumi.yaml`` and the stack files live."""


@dataclass(frozen=True)
class StackConfig:
    """What a stack adds to the plan; everything else comes from the plan."""

    stack: str
    plan_path: Path
    phase: int
    image: str | None = None
    context: str | None = None
    """One kubeconfig context for every site (the dev stack: one cluster, a namespace per state)."""
    contexts: Mapping[str, str] = field(default_factory=dict)
    """Per-site contexts (one cluster per state); they win over the plan's ``kube_context``."""
    context_pattern: str | None = None
    """Context of a state not named otherwise, e.g. ``msgfleet-{state}`` (``{state}``: ``ru-mow``)."""
    dev: bool = False
    """A development stack: may keep the plan's example domain."""
    protect: bool = True
    """``protect`` the objects that hold data (they are retained on delete either way)."""
    domain: str | None = None
    """Wins over ``plan.infra.domain``."""
    tls_cluster_issuer: str | None = None
    """cert-manager ClusterIssuer of the sites' certificates; wins over the plan's."""
    tls_secret: str | None = None
    """A ``kubernetes.io/tls`` Secret provided in every site namespace instead of cert-manager."""
    turn_exposure: str | None = None
    """``load_balancer``, ``node_port`` or ``host_network``; wins over ``plan.infra.turn_exposure``."""
    turn_external_ips: Mapping[str, str] = field(default_factory=dict)
    """Public address coturn advertises, per state (required with ``load_balancer``)."""
    turn_listener_limit: int = 50
    """Most ports one load balancer takes (an AWS NLB's default listener quota is 50)."""
    image_digest: str | None = None
    """``sha256:…`` of the node image: pods then pull ``<image without tag>@<digest>``."""
    image_pull_secrets: tuple[str, ...] = ()
    """Secrets (in each site namespace) for pulling the node image from a private registry."""
    sized_plan: str | None = None
    """Path of the simulator's sized plan (``{phase}`` = the phase), relative to the project root."""

    def load_plan(self) -> Plan:
        plan = load_plan(self.plan_path)
        try:
            plan.live_sites(self.phase)
        except IndexError as exc:
            raise InfraError(f"{self.plan_path}: msgfleet:phase: {exc}") from None
        return plan

    def context_of(self, plan: Plan, state: str) -> str:
        """The kubeconfig context of ``state``'s cluster."""
        pattern = self.context_pattern.format(state=state.lower()) if self.context_pattern else None
        ctx = self.contexts.get(state) or plan.site(state).kube_context or pattern or self.context
        if not ctx:
            raise InfraError(
                f"stack {self.stack}: no kube context for {state}: set msgfleet:contexts.{state}, "
                f"msgfleet:contextPattern, msgfleet:context or the plan's sites[].kube_context"
            )
        return ctx

    def image_of(self, plan: Plan) -> str:
        """The node image, by digest when the stack gives one (``repo@sha256:…``, tag dropped)."""
        image = self.image or plan.infra.image
        if not self.image_digest:
            return image
        repo, _, last = image.rpartition("/")
        name = last.split("@", 1)[0].split(":", 1)[0]
        return f"{repo}/{name}@{self.image_digest}" if repo else f"{name}@{self.image_digest}"

    def deployed_plan(self, plan: Plan) -> Plan:
        """``plan`` with the stack's domain and certificate issuer, checked: outside a dev stack the
        example domain is refused and every site needs a certificate source."""
        update = {
            k: v
            for k, v in (("domain", self.domain), ("tls_cluster_issuer", self.tls_cluster_issuer))
            if v is not None
        }
        plan = plan.model_copy(update={"infra": plan.infra.model_copy(update=update)}) if update else plan
        where = f"stack {self.stack}"
        if not self.dev:
            domain = plan.infra.domain
            if domain == EXAMPLE_DOMAIN or domain.endswith((".example", ".test", ".invalid", ".localhost")):
                raise InfraError(
                    f"{where}: msgfleet:domain: {domain!r} is a reserved example domain (RFC 2606); "
                    "set the sites' real domain (or msgfleet:dev: true for a development stack)"
                )
            if not (plan.infra.tls_cluster_issuer or self.tls_secret):
                raise InfraError(
                    f"{where}: no certificate source: set msgfleet:tlsClusterIssuer (cert-manager) "
                    "or msgfleet:tlsSecret (a kubernetes.io/tls Secret in every site namespace)"
                )
        if plan.infra.tls_cluster_issuer and self.tls_secret:
            raise InfraError(f"{where}: msgfleet:tlsSecret and a ClusterIssuer: choose one")
        return plan

    def turn_exposure_of(self, plan: Plan) -> str:
        return self.turn_exposure or plan.infra.turn_exposure


def from_values(stack: str, values: Mapping[str, Any], root: Path = ROOT, where: str = "") -> StackConfig:
    """Build a :class:`StackConfig` from ``msgfleet:*`` config values (keys without the prefix)."""
    where = where or f"stack {stack}"
    plan = values.get("plan")
    if not plan:
        raise InfraError(f"{where}: msgfleet:plan: missing (path of a rollout plan)")
    try:
        phase = int(values.get("phase", 1))
    except (TypeError, ValueError):
        raise InfraError(f"{where}: msgfleet:phase: {values.get('phase')!r} is not a phase number") from None
    contexts = values.get("contexts") or {}
    if not isinstance(contexts, Mapping):
        raise InfraError(f"{where}: msgfleet:contexts: expected a mapping state -> context")
    path = Path(str(plan))
    exposure = values.get("turnExposure") or None
    if exposure is not None and exposure not in TURN_EXPOSURES:
        raise InfraError(
            f"{where}: msgfleet:turnExposure: {exposure!r} is not one of {', '.join(TURN_EXPOSURES)}"
        )
    digest = values.get("imageDigest") or None
    if digest is not None and not re.fullmatch(r"sha256:[0-9a-f]{64}", str(digest)):
        raise InfraError(f"{where}: msgfleet:imageDigest: {digest!r} is not sha256:<64 hex digits>")
    ips = values.get("turnExternalIps") or {}
    if not isinstance(ips, Mapping):
        raise InfraError(f"{where}: msgfleet:turnExternalIps: expected a mapping state -> address")
    for state, ip in ips.items():
        try:
            ipaddress.ip_address(str(ip))
        except ValueError:
            raise InfraError(
                f"{where}: msgfleet:turnExternalIps.{state}: {ip!r} is not an IP address"
            ) from None
    try:
        limit = int(values.get("turnListenerLimit", 50))
    except (TypeError, ValueError):
        raise InfraError(
            f"{where}: msgfleet:turnListenerLimit: {values.get('turnListenerLimit')!r} is not a number"
        ) from None
    pull = values.get("imagePullSecrets") or []
    if isinstance(pull, str) or not isinstance(pull, list):
        raise InfraError(f"{where}: msgfleet:imagePullSecrets: expected a list of Secret names")
    return StackConfig(
        stack=stack,
        plan_path=path if path.is_absolute() else root / path,
        phase=phase,
        image=values.get("image") or None,
        context=values.get("context") or None,
        contexts={str(k): str(v) for k, v in contexts.items()},
        context_pattern=_pattern(values.get("contextPattern"), where),
        dev=_flag(values.get("dev", False), "dev", where),
        protect=_flag(values.get("protect", True), "protect", where),
        domain=values.get("domain") or None,
        tls_cluster_issuer=values.get("tlsClusterIssuer") or None,
        tls_secret=values.get("tlsSecret") or None,
        turn_exposure=exposure,
        turn_external_ips={str(k): str(v) for k, v in ips.items()},
        turn_listener_limit=limit,
        image_digest=digest,
        image_pull_secrets=tuple(str(name) for name in pull),
        sized_plan=values.get("sizedPlan") or None,
    )


def _flag(value: Any, key: str, where: str) -> bool:
    """A boolean from YAML (true/false) or from ``pulumi config`` (the strings "true"/"false")."""
    if isinstance(value, bool):
        return value
    if str(value).lower() in ("true", "false"):
        return str(value).lower() == "true"
    raise InfraError(f"{where}: msgfleet:{key}: {value!r} is not true or false")


def _pattern(value: Any, where: str) -> str | None:
    if not value:
        return None
    text = str(value)
    try:
        text.format(state="ru-mow")
    except (KeyError, IndexError, ValueError):
        raise InfraError(f"{where}: msgfleet:contextPattern: {text!r} may only use {{state}}") from None
    return text


def load_stack_file(stack: str, root: Path = ROOT) -> StackConfig:
    """Read ``Pulumi.<stack>.yaml`` under ``root`` (no Pulumi CLI needed)."""
    path = root / f"Pulumi.{stack}.yaml"
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise InfraError(f"{path}: cannot read stack file: {exc.strerror}") from None
    config = data.get("config") or {}
    prefix = f"{PROJECT}:"
    values = {k.removeprefix(prefix): v for k, v in config.items() if k.startswith(prefix)}
    return from_values(stack, values, root, where=str(path))


_TEXT_KEYS = (
    "dev",
    "protect",
    "domain",
    "tlsClusterIssuer",
    "tlsSecret",
    "turnExposure",
    "turnListenerLimit",
    "imageDigest",
    "sizedPlan",
)
_OBJECT_KEYS = ("turnExternalIps", "imagePullSecrets")


def from_pulumi_config() -> StackConfig:
    """The running stack's settings, inside ``pulumi up`` / ``preview``."""
    import pulumi

    config = pulumi.Config(PROJECT)
    values: dict[str, Any] = {
        "plan": config.get("plan"),
        "phase": config.get("phase") or 1,
        "image": config.get("image"),
        "context": config.get("context"),
        "contexts": config.get_object("contexts") or {},
        "contextPattern": config.get("contextPattern"),
        **{key: config.get(key) for key in _TEXT_KEYS if config.get(key) is not None},
        **{key: config.get_object(key) for key in _OBJECT_KEYS if config.get(key) is not None},
    }
    root = pulumi.get_root_directory()  # the folder of Pulumi.yaml (a placeholder under mocks)
    return from_values(pulumi.get_stack(), values, Path(root) if root and Path(root).is_dir() else ROOT)
