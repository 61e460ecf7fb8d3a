"""The ``pulumi up`` entry point under ``pulumi.runtime.set_mocks``: stack config in, stack outputs out."""

from __future__ import annotations

import pulumi
import pytest

from infra.federation import public_key
from infra.mocks import RecordingMocks
from infra.program import main
from infra.stack import from_pulumi_config


@pytest.fixture
def mocks() -> RecordingMocks:
    mocks = RecordingMocks()
    pulumi.runtime.set_mocks(mocks, project="msgfleet", stack="dev", preview=False)
    pulumi.runtime.set_all_config(
        {
            "msgfleet:plan": "rollout_plans/dev-3-states.yaml",
            "msgfleet:phase": "2",
            "msgfleet:image": "registry.example/msgfleet/node:1.2.3",
            "msgfleet:context": "kind-test",
            "msgfleet:dev": "true",
            "msgfleet:turnExposure": "host_network",
        }
    )
    yield mocks
    pulumi.runtime.set_all_config({})


def test_stack_config_comes_from_pulumi_config(mocks: RecordingMocks) -> None:
    stack = from_pulumi_config()
    assert (stack.stack, stack.phase, stack.context) == ("dev", 2, "kind-test")
    assert stack.plan_path.name == "dev-3-states.yaml" and stack.plan_path.exists()


def test_main_provisions_every_live_site_of_the_configured_phase(mocks: RecordingMocks) -> None:
    pulumi.runtime.test(main)()  # returns once every registration has reached the mocks
    identities = {r.name for r in mocks.resources if r.typ == "msgfleet:k8s:SiteIdentity"}
    assert identities == {"ru-mow-identity", "ru-spe-identity", "ru-nvs-identity"}, "phase 2: all three live"
    images = {
        c["image"]
        for r in mocks.resources
        if r.inputs.get("kind") == "Deployment" and r.inputs["metadata"]["name"] == "node"
        for c in r.inputs["spec"]["template"]["spec"]["containers"]
    }
    assert images == {"registry.example/msgfleet/node:1.2.3"}
    assert not [r for r in mocks.resources if r.typ == "msgfleet:k8s:CapacityReservation"], "last phase"


@pulumi.runtime.test
def test_site_identity_public_key_is_its_seeds() -> pulumi.Output[None]:
    from infra.components import SiteIdentity

    pulumi.runtime.set_mocks(RecordingMocks(), project="msgfleet", stack="dev", preview=False)
    ident = SiteIdentity("RU-MOW")

    def check(values: list[str]) -> None:
        seed, key = values
        assert key == public_key(seed), "the exported key must be derived from the site's own seed"

    return pulumi.Output.all(ident.federation_seed.base64, ident.public_key).apply(check)
