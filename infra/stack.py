"""A stack's settings (``Pulumi.<stack>.yaml``): which plan, which phase, which image, which clusters.

``pulumi up`` reads them through ``pulumi.Config``; ``msgfleet infra render`` reads the same file
with :func:`load_stack_file`, so both paths build the same :class:`StackConfig`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from infra.errors import InfraError
from msgfleet.schema import Plan, load_plan

PROJECT = "msgfleet"
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
        return self.image or plan.infra.image


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
    return StackConfig(
        stack=stack,
        plan_path=path if path.is_absolute() else root / path,
        phase=phase,
        image=values.get("image") or None,
        context=values.get("context") or None,
        contexts={str(k): str(v) for k, v in contexts.items()},
        context_pattern=_pattern(values.get("contextPattern"), where),
    )


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
    }
    root = pulumi.get_root_directory()  # the folder of Pulumi.yaml (a placeholder under mocks)
    return from_values(pulumi.get_stack(), values, Path(root) if root and Path(root).is_dir() else ROOT)
