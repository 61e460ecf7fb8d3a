"""``msgfleet infra diff``: what a phase change creates, updates, replaces and deletes, per state."""

from __future__ import annotations

import copy
from dataclasses import replace

from rendered_stacks import rendered_at

from infra.diff import Change, diff


def _by(changes: list[Change], state: str, action: str) -> set[str]:
    return {c.target for c in changes if c.state == state and c.action == action}


def test_opening_a_reserved_state_replaces_its_reservation_by_a_site() -> None:
    before, after = rendered_at("dev", 1), rendered_at("dev", 2)
    changes = diff(before, after)
    assert _by(changes, "RU-NVS", "delete") == {
        "PriorityClass/msgfleet-reservation-ru-nvs",
        "Deployment/msgfleet-ru-nvs/capacity-placeholder",
        "ResourceQuota/msgfleet-ru-nvs/reservation-quota",
    }
    assert {"Namespace/msgfleet-ru-nvs", "NetworkPolicy/msgfleet-ru-nvs/default-deny"} <= _by(
        changes, "RU-NVS", "update"
    ), "the namespace and its default deny are kept (aliases), not created again"
    created = _by(changes, "RU-NVS", "create")
    assert "Deployment/msgfleet-ru-nvs/node" in created and "StatefulSet/msgfleet-ru-nvs/postgres" in created
    assert not [c for c in changes if c.action == "replace"], "a phase change replaces nothing"
    node = next(c for c in changes if c.target == "Deployment/msgfleet-ru-mow/node")
    assert node.action == "update" and "spec.template.metadata" in node.fields, "new peers roll the pods"
    postgres = next(c for c in changes if c.target == "StatefulSet/msgfleet-ru-mow/postgres")
    assert "spec.template.metadata" not in postgres.fields, "a phase change does not restart the database"


def test_same_phase_changes_nothing() -> None:
    assert diff(rendered_at("dev", 1), rendered_at("dev", 1)) == []


def test_an_immutable_field_is_a_replacement_and_a_dropped_data_object_is_retained() -> None:
    before = rendered_at("national", 2)
    items = list(copy.deepcopy(before.manifests))
    at = next(i for i, m in enumerate(items) if m.ident == "StatefulSet/msgfleet-ru-mow/postgres")
    claim = items[at].manifest["spec"]["volumeClaimTemplates"][0]
    claim["spec"]["resources"]["requests"]["storage"] = "40Gi"
    dropped = next(m for m in items if m.ident == "StatefulSet/msgfleet-ru-spe/redis")
    assert items[at].protect and dropped.protect, "national protects its data"
    items.remove(dropped)
    changes = diff(before, replace(before, manifests=tuple(items)))
    assert [(c.action, c.target) for c in changes] == [
        ("replace", "StatefulSet/msgfleet-ru-mow/postgres"),
        ("retain", "StatefulSet/msgfleet-ru-spe/redis"),
    ]
    assert changes[0].fields == ("spec.volumeClaimTemplates",)
    assert all(c.protected for c in changes), "pulumi up would refuse both: the diff says so"


def test_cli_prints_the_table_and_the_deletions() -> None:
    from typer.testing import CliRunner

    from msgfleet.cli import app

    result = CliRunner().invoke(
        app, ["infra", "diff", "--stack", "dev", "--from-phase", "1", "--to-phase", "2"]
    )
    assert result.exit_code == 0, result.output
    assert "phase 1 -> 2" in result.output and "RU-NVS" in result.output
    assert "delete   RU-NVS   PriorityClass/msgfleet-reservation-ru-nvs" in result.output
