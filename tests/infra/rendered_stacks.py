"""Rendered stacks, computed once per session (rendering runs the whole program under mocks).

``dev`` renders the shipped dev stack; ``national`` renders Pulumi.national.yaml's settings with a
plan made here from dev-3-states: one kube context per site, both operators, host-network TURN,
design users and peer addresses, so the branches dev does not take are exercised too.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from infra.render import Rendering, render
from infra.stack import ROOT, StackConfig, load_stack_file
from msgfleet.schema import Plan, load_plan

STACKS = ["dev", "national"]
DEV_PLAN = ROOT / "rollout_plans" / "dev-3-states.yaml"


def national_plan_data() -> dict[str, Any]:
    data = yaml.safe_load(DEV_PLAN.read_text(encoding="utf-8"))
    data["name"] = "national-from-dev"
    for site in data["sites"]:
        site["kube_context"] = f"ctx-{site['state'].lower()}"
    data["infra"] = {
        "operators": {"cloudnative_pg": True, "prometheus_operator": True},
        "turn_exposure": "host_network",
        "turn_relay_ports": [49152, 65535],
        "database_instances": 3,
        "tls_cluster_issuer": "letsencrypt",
        "design_users": {"RU-MOW": 2_000_000, "RU-SPE": 900_000, "RU-NVS": 300_000},
        "peer_cidrs": {
            "RU-MOW": ["198.51.100.0/28"],
            "RU-SPE": ["203.0.113.16/28"],
            "RU-NVS": ["192.0.2.32/28"],
        },
    }
    return data


def stack_and_plan(name: str) -> tuple[StackConfig, Plan]:
    stack = load_stack_file(name)
    if name == "national":
        plan = Plan.model_validate(national_plan_data())
        return replace(stack, plan_path=Path("<national-from-dev>"), sized_plan=None), plan
    return stack, load_plan(stack.plan_path)


_CACHE: dict[str, Rendering] = {}


def rendered(name: str) -> Rendering:
    if name not in _CACHE:
        stack, plan = stack_and_plan(name)
        _CACHE[name] = render(stack, plan)
    return _CACHE[name]


SHIPPED = ["dev", "national"]
"""The stack files as shipped (their own plans and sized plans), rendered at every phase."""
_PHASES: dict[tuple[str, int], Rendering] = {}


def shipped_phases(name: str) -> list[int]:
    stack = load_stack_file(name)
    return list(range(1, len(load_plan(stack.plan_path).phases) + 1))


def rendered_at(name: str, phase: int) -> Rendering:
    """The shipped stack ``name`` at ``phase`` (cached; generated secrets from one fixed seed, so
    that two phases can be compared as :mod:`infra.diff` does)."""
    if (name, phase) not in _PHASES:
        _PHASES[name, phase] = render(replace(load_stack_file(name), phase=phase), seed=b"tests")
    return _PHASES[name, phase]
