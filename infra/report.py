"""A rich table summarising a rendering: per site, its resources and their checks."""

from __future__ import annotations

from rich.table import Table

from infra.diff import ACTIONS, Change
from infra.policy import POLICIES
from infra.render import Rendering
from infra.sizing import DESIGN_LOAD


def summary_table(rendering: Rendering) -> Table:
    plan, stack = rendering.plan, rendering.stack
    k8s = plan.infra.kubernetes_version
    title = f"stack {stack.stack}: plan {plan.name}, phase {stack.phase}, Kubernetes {k8s}"
    table = Table(title=title)
    columns = (
        "site",
        "role",
        "manifests",
        "node pods",
        "TURN",
        "sized from",
        "schema ok",
        "CRDs",
        "policies",
    )
    for column in columns:
        table.add_column(column)
    failed = {v.target for v in rendering.violations}
    sites = rendering.outputs.get("sites", {})
    reserved = rendering.outputs.get("reserved", {})
    for state, items in sorted(rendering.by_state().items()):
        checks = [rendering.schema[item.path] for item in items]
        valid = sum(1 for c in checks if c.ok and not c.skipped)
        skipped = sum(1 for c in checks if c.skipped)
        bad = sum(1 for item in items if item.ident in failed)
        if state in sites:
            site = sites[state]
            role, pods = "live", f"{site['node_pods']}-{site['max_pods']}"
            turn, source = f"{site['turn_relays']} ({site['turn_channels']} ch)", site["sized_from"]
        else:
            held = reserved.get(state, {})
            role, pods, turn = (f"reserve p{held.get('phase')}", f"{held.get('pods')} held", "-")
            source = held.get("sized_from", "?")
        if source != DESIGN_LOAD:
            source = f"[bold red]{source}[/bold red]"
        policies = f"{len(POLICIES)}/{len(POLICIES)} ok" if not bad else f"{bad} fail"
        table.add_row(
            state, role, str(len(items)), pods, turn, source, f"{valid}/{len(items)}", str(skipped), policies
        )
    return table


def diff_table(changes: list[Change], title: str) -> Table:
    """Per state, how many objects a phase change creates, updates, replaces, deletes, retains."""
    table = Table(title=title)
    table.add_column("state")
    for action in ACTIONS:
        table.add_column(action)
    for state in sorted({c.state for c in changes}):
        counts = [sum(1 for c in changes if c.state == state and c.action == a) for a in ACTIONS]
        table.add_row(state, *(str(n) if n else "-" for n in counts))
    return table
