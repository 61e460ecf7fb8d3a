"""Sign-in by identity provider in the Locust mix: a run whose plan says ``oidc_signin_share: 1`` starts
the local OpenID provider, configures the fleet with it, and every simulated user signs in through it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from loadtests import oidc_provider
from loadtests.run import run_loadtest

PLAN = Path(__file__).resolve().parents[2] / "rollout_plans" / "dev-3-states.yaml"


def test_users_sign_in_with_the_local_provider(tmp_path: Path) -> None:
    if not oidc_provider.installed():
        if os.environ.get("CI") == "true":
            pytest.fail("tools/oidc-provider/node_modules missing in CI: `make oidc-provider` must run first")
        pytest.skip("the local OpenID provider is not installed: run `make oidc-provider`")
    data = yaml.safe_load(PLAN.read_text())
    data["loadtest"] = {
        "weights": {"private_send": 1, "read_sync": 1},
        "think_time_s": [0.2, 0.6],
        "oidc_signin_share": 1.0,
    }
    data["slo"] = {"delivery_p95_ms": 5000, "error_rate": 0.05}
    plan = tmp_path / "oidc.yaml"
    plan.write_text(yaml.safe_dump(data))
    summary = run_loadtest(tmp_path / "run", plan=str(plan), users=4, spawn_rate=4, duration_s=6, quiet=True)
    by_name = {r["name"]: r for r in summary["per_request"]}
    assert "auth:verify" not in by_name and "auth:request-code" not in by_name
    for name in ("auth:oidc-start", "provider:login", "auth:oidc-callback"):
        assert by_name[name]["requests"] == 4 and by_name[name]["failures"] == 0, by_name[name]
    assert by_name["provider:login"]["type"] == "OIDC"
