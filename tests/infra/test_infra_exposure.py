"""How a site is reached, per stack config: TURN by a load balancer, node ports or the host network;
certificates from cert-manager or a provided Secret; the node image by digest with pull secrets."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from rendered_stacks import stack_and_plan

from infra.errors import InfraError
from infra.manifests.ranges import coturn_range
from infra.policy import POLICIES
from infra.render import Rendering, render
from infra.stack import StackConfig, from_values
from msgfleet.schema import Plan

DIGEST = "sha256:" + "ab" * 32


def _dev(**changes: Any) -> tuple[StackConfig, Plan]:
    stack, plan = stack_and_plan("dev")
    return replace(stack, **changes), plan


def _narrow(plan: Plan, ports: tuple[int, int], turn_port: int = 3478) -> Plan:
    data = plan.model_dump(mode="json")
    data["infra"].update(turn_relay_ports=list(ports), turn_port=turn_port)
    return Plan.model_validate(data)


def _get(rendering: Rendering, kind: str, name: str, state: str = "RU-MOW") -> dict[str, Any] | None:
    for m in rendering.by_state()[state]:
        if m.manifest["kind"] == kind and m.manifest["metadata"]["name"] == name:
            return m.manifest
    return None


def _turn_args(rendering: Rendering) -> list[str]:
    turn = _get(rendering, "Deployment", "turn")
    assert turn is not None
    return list(turn["spec"]["template"]["spec"]["containers"][0]["args"])


def test_load_balancer_within_the_listener_limit_advertises_its_address() -> None:
    stack, plan = _dev(turn_exposure="load_balancer", turn_external_ips={"RU-MOW": "198.51.100.7"})
    stack = replace(stack, turn_external_ips={s: "198.51.100.7" for s in ("RU-MOW", "RU-SPE", "RU-NVS")})
    rendering = render(stack, _narrow(plan, (49152, 49191)))
    service = _get(rendering, "Service", "turn")
    assert service is not None and service["spec"]["type"] == "LoadBalancer"
    assert len(service["spec"]["ports"]) == 42 <= stack.turn_listener_limit
    assert "--external-ip=198.51.100.7" in _turn_args(rendering)
    assert not rendering.failures()


def test_load_balancer_over_the_listener_limit_or_without_an_address_is_refused() -> None:
    stack, plan = _dev(turn_exposure="load_balancer", turn_external_ips={"RU-MOW": "198.51.100.7"})
    with pytest.raises(InfraError, match=r"needs 103 ports .* > msgfleet:turnListenerLimit 50"):
        render(stack, plan)
    with pytest.raises(InfraError, match=r"turnExternalIps\.RU-SPE"):
        render(stack, _narrow(plan, (49152, 49191)))


def test_node_ports_equal_the_relay_ports_and_must_lie_in_the_node_port_range() -> None:
    stack, plan = _dev(turn_exposure="node_port")
    rendering = render(stack, _narrow(plan, (30100, 30149), turn_port=30478))
    service = _get(rendering, "Service", "turn")
    assert service is not None and service["spec"]["type"] == "NodePort"
    assert all(p["nodePort"] == p["port"] for p in service["spec"]["ports"])
    assert "--external-ip=$(HOST_IP)" in _turn_args(rendering), "the node's address, from the downward API"
    assert not rendering.failures()
    with pytest.raises(InfraError, match=r"\[3478, 49152, 49252\] outside the node-port range"):
        render(stack, plan)


def test_host_network_has_no_service_and_uses_the_nodes_address() -> None:
    stack, plan = _dev()
    rendering = render(stack, plan)
    assert stack.turn_exposure == "host_network" and _get(rendering, "Service", "turn") is None
    turn = _get(rendering, "Deployment", "turn")
    assert turn is not None and turn["spec"]["template"]["spec"]["hostNetwork"] is True


def test_coturn_denies_the_special_ranges_relays_udp_only_and_reads_its_secret_from_a_file() -> None:
    stack, plan = _dev()
    rendering = render(stack, plan)
    args = _turn_args(rendering)
    for cidr in ("169.254.0.0/16", "100.64.0.0/10", "0.0.0.0/8", "::ffff:0:0/96", "fc00::/7", "fe80::/10"):
        assert f"--denied-peer-ip={coturn_range(cidr)}" in args, cidr
    assert "--no-tcp-relay" in args and not [a for a in args if "secret" in a.lower() and "=" in a]
    secret = _get(rendering, "Secret", "turn-secret")
    assert secret is not None
    auth = secret["stringData"]["auth.conf"]
    assert auth == f"static-auth-secret={secret['stringData']['static-auth-secret']}\n"
    egress = _get(rendering, "NetworkPolicy", "turn-egress")
    assert egress is not None
    blocks = {p["ipBlock"]["cidr"]: set(p["ipBlock"]["except"]) for p in egress["spec"]["egress"][0]["to"]}
    assert {"169.254.0.0/16", "100.64.0.0/10", "0.0.0.0/8"} <= blocks["0.0.0.0/0"]
    assert {"::ffff:0:0/96", "fc00::/7", "fe80::/10"} <= blocks["::/0"]


def test_turn_policy_rejects_a_balancer_over_its_limit_and_a_secret_in_the_arguments() -> None:
    stack, plan = _dev(turn_exposure="load_balancer", turn_external_ips={})
    stack = replace(stack, turn_external_ips={s: "198.51.100.7" for s in ("RU-MOW", "RU-SPE", "RU-NVS")})
    manifests = [m.manifest for m in render(stack, _narrow(plan, (49152, 49191))).manifests]
    service = next(m for m in manifests if m["kind"] == "Service" and m["metadata"]["name"] == "turn")
    service["metadata"]["annotations"]["msgfleet.io/listener-limit"] = "40"
    turn = next(m for m in manifests if m["kind"] == "Deployment" and m["metadata"]["name"] == "turn")
    turn["spec"]["template"]["spec"]["containers"][0]["args"].append("--static-auth-secret=$(TURN_SECRET)")
    messages = {v.message for v in POLICIES["turn-relays"](manifests)}
    assert "42 ports, listener limit 40" in messages
    assert "container turn: the shared secret is on the command line" in messages


def test_example_domain_and_missing_certificates_are_refused_outside_dev() -> None:
    stack, plan = _dev(dev=False)
    with pytest.raises(InfraError, match="reserved example domain"):
        render(stack, plan)
    with pytest.raises(InfraError, match="no certificate source"):
        render(replace(stack, domain="msg.gov.test2", tls_cluster_issuer=None), plan)


def test_a_provided_certificate_secret_is_named_on_the_ingress() -> None:
    stack, plan = _dev(dev=False, domain="msg.gov.test2", tls_cluster_issuer=None, tls_secret="site-cert")
    rendering = render(stack, plan)
    for name in ("node", "federation"):
        ingress = _get(rendering, "Ingress", name)
        assert ingress is not None
        assert ingress["spec"]["tls"] == [{"hosts": ["ru-mow.msg.gov.test2"], "secretName": "site-cert"}]
        assert ingress["metadata"]["annotations"]["msgfleet.io/tls-provided"] == "site-cert"
        assert "cert-manager.io/cluster-issuer" not in ingress["metadata"]["annotations"]
    assert not rendering.failures()


def test_image_by_digest_with_pull_secrets_for_node_and_migrations() -> None:
    stack, plan = _dev(image_digest=DIGEST, image_pull_secrets=("registry",))
    rendering = render(stack, plan)
    for kind, name in (("Deployment", "node"), ("Job", None)):
        workload = next(
            m.manifest
            for m in rendering.by_state()["RU-MOW"]
            if m.manifest["kind"] == kind and (name is None or m.manifest["metadata"]["name"] == name)
        )
        pod = workload["spec"]["template"]["spec"]
        assert pod["containers"][0]["image"] == f"ghcr.io/msgfleet/node@{DIGEST}", kind
        assert pod["imagePullSecrets"] == [{"name": "registry"}], kind
    assert not rendering.failures()


@pytest.mark.parametrize(
    ("values", "words"),
    [
        ({"imageDigest": "sha256:12"}, "imageDigest"),
        ({"turnExposure": "nodeport"}, "turnExposure"),
        ({"turnExternalIps": {"RU-MOW": "turn.example"}}, r"turnExternalIps\.RU-MOW"),
        ({"imagePullSecrets": "registry"}, "imagePullSecrets"),
        ({"protect": "maybe"}, "msgfleet:protect"),
    ],
)
def test_bad_stack_values_are_named(values: dict[str, Any], words: str) -> None:
    with pytest.raises(InfraError, match=words):
        from_values("x", {"plan": "p.yaml", **values})
