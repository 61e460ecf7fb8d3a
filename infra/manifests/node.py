"""The messenger node: ConfigMap, Secret, Deployment, Service, HPA and PDB of one site."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from pulumi import Input

from infra.labels import NODE_PORT, component_selector
from infra.manifests import pods
from infra.manifests.spec import Manifest, SiteSpec
from infra.manifests.stores import DB_SECRET, database_url

NODE = "node"
CONFIG = "node-config"
SECRET = "node-secrets"
TURN_SECRET = "turn-secret"
MEDIA_SECRET = "media-credentials"
DATA_DIR = "/data"
CONFIG_DIR = "/etc/msgfleet"
KEYS_DIR = "/etc/msgfleet/keys"
MIGRATE = "migrate"
MIB = 1024 * 1024
LARGEST_UPLOAD_BYTES = 2000 * 1_000_000
"""The node's largest upload: ``document_max_bytes`` of messenger/media/settings.py (2,000 MB, after
WhatsApp's document limit); tests/infra/test_infra_node_contract.py checks it is the node's."""
UPLOADS_IN_FLIGHT = 2
"""Largest uploads a pod spools at once (each is spooled whole before it goes to the store)."""
SCRATCH_MIB = 512
"""The rest of ``/data``: thumbnails being made, the SMS sink, small files."""


def body_limit() -> str:
    """ingress-nginx ``proxy-body-size`` (nginx ``m`` = MiB) that lets the largest upload through."""
    return f"{-(-LARGEST_UPLOAD_BYTES // MIB) + 1}m"


def spool_mib(site: SiteSpec) -> int:
    """Size of the node's ``/data`` emptyDir: the uploads in flight, spooled whole, plus scratch."""
    needed = -(-UPLOADS_IN_FLIGHT * LARGEST_UPLOAD_BYTES // MIB) + SCRATCH_MIB
    return max(site.plan.infra.node_data_gib * 1024, needed)


def peers_json(state: str, peers: Sequence[dict[str, str]], forbidden: Sequence[str]) -> str:
    """``MSGFLEET_PEERS`` file: {peers: [{state, url, public_key}], policy: {<state>:
    {forbid_federation_with: [...]}}} — the residency policy as the node enforces it (JSON is YAML)."""
    doc = {"peers": list(peers), "policy": {state: {"forbid_federation_with": sorted(forbidden)}}}
    return json.dumps(doc, indent=2, sort_keys=True)


def turn_uris(site: SiteSpec) -> str:
    """``MSGFLEET_TURN_URIS``: the site's coturn over UDP and TCP (DNS ``turn.<state>.<domain>``)."""
    host, port = f"turn.{site.state.lower()}.{site.plan.infra.domain}", site.plan.infra.turn_port
    return f"turn:{host}:{port}?transport=udp,turn:{host}:{port}?transport=tcp"


def tariffs_json(site: SiteSpec) -> str:
    """``MSGFLEET_TARIFFS``: the plan's tariff section as JSON."""
    return json.dumps(site.plan.tariffs.model_dump(mode="json"), sort_keys=True)


def config_map(site: SiteSpec, peers_file: Input[str]) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": site.meta(CONFIG, NODE),
        "data": {"peers.json": peers_file, "tariffs.json": tariffs_json(site)},
    }


def secret(site: SiteSpec, values: dict[str, Input[str]]) -> Manifest:
    """``values``: federation.key (base64 seed), media.key (hex), secret-key, database-url, redis-url."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": site.meta(SECRET, NODE),
        "type": "Opaque",
        "stringData": values,
    }


def _env(site: SiteSpec) -> list[dict[str, Any]]:
    """The node's settings (messenger/settings.py, messenger/media/settings.py)."""
    plain = {
        "MSGFLEET_STATE": site.state,
        "MSGFLEET_DATA_DIR": DATA_DIR,
        "MSGFLEET_BASE_URL": site.base_url,
        "MSGFLEET_PEERS": f"{CONFIG_DIR}/peers.json",
        "MSGFLEET_FEDERATION_KEY": f"{KEYS_DIR}/federation.key",
        "MSGFLEET_TARIFFS": tariffs_json(site),
        "MSGFLEET_TURN_URIS": turn_uris(site),
        "MSGFLEET_MEDIA_BACKEND": "s3",
        "MSGFLEET_MEDIA_KEY_FILE": f"{KEYS_DIR}/media.key",
        "MSGFLEET_MEDIA_S3_BUCKET": f"msgfleet-{site.state.lower()}",
        "MSGFLEET_DATABASE_URL": database_url(site),
    }
    env: list[dict[str, Any]] = [{"name": k, "value": v} for k, v in plain.items()]
    env += [
        pods.secret_env("PGPASSWORD", DB_SECRET, "password"),
        pods.secret_env("MSGFLEET_REDIS_URL", SECRET, "redis-url"),
        pods.secret_env("MSGFLEET_SECRET_KEY", SECRET, "secret-key"),
        pods.secret_env("MSGFLEET_TURN_SECRET", TURN_SECRET, "static-auth-secret"),
        pods.secret_env("MSGFLEET_MEDIA_S3_ENDPOINT", MEDIA_SECRET, "endpoint"),
        pods.secret_env("MSGFLEET_MEDIA_S3_ACCESS_KEY", MEDIA_SECRET, "access-key"),
        pods.secret_env("MSGFLEET_MEDIA_S3_SECRET_KEY", MEDIA_SECRET, "secret-key"),
    ]
    return env


def config_checksum(peers_file: str, tariffs: str) -> str:
    """Pod-template annotation value: a changed peers file or tariff rolls the node pods."""
    return hashlib.sha256(f"{peers_file}\n{tariffs}".encode()).hexdigest()


def _pull(site: SiteSpec) -> dict[str, Any]:
    return (
        {"imagePullSecrets": [{"name": n} for n in site.exposure.pull_secrets]}
        if site.exposure.pull_secrets
        else {}
    )


def migration_job(site: SiteSpec) -> Manifest:
    """``msgfleet migrate`` once per rollout: a Job named after the node image, so a new image runs
    the migrations once before the Deployment rolls (components make the node depend on it). The
    node's own start-up upgrade then finds nothing to do; both take a PostgreSQL advisory lock
    (messenger/migrations/env.py), so even a race is harmless."""
    container = pods.container(
        MIGRATE,
        site.image,
        cpu=0.25,
        memory_mib=256,
        command=["msgfleet"],
        args=["migrate", "--state", site.state, "--data-dir", DATA_DIR],
        env=[
            {"name": "MSGFLEET_DATABASE_URL", "value": database_url(site)},
            pods.secret_env("PGPASSWORD", DB_SECRET, "password"),
        ],
        volumeMounts=[{"name": "data", "mountPath": DATA_DIR}, {"name": "tmp", "mountPath": "/tmp"}],
    )
    name = f"{MIGRATE}-{hashlib.sha256(site.image.encode()).hexdigest()[:10]}"
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": site.meta(name, MIGRATE),
        "spec": {
            "backoffLimit": 3,
            "activeDeadlineSeconds": 1800,
            "template": {
                "metadata": {"labels": site.pod_labels(MIGRATE)},
                "spec": pods.pod_spec(
                    [container],
                    component=MIGRATE,
                    volumes=[pods.empty_dir("data", 64), pods.empty_dir("tmp", 64)],
                    spread=False,
                    restartPolicy="Never",
                    **_pull(site),
                ),
            },
        },
    }


def deployment(site: SiteSpec, checksum: Input[str] = "") -> Manifest:
    sizing = site.sizing
    args = ["serve", "--state", site.state, "--host", "0.0.0.0", "--port", str(NODE_PORT)]
    node = pods.container(
        NODE,
        site.image,
        cpu=sizing.pod_cpu,
        memory_mib=sizing.pod_memory_mib,
        command=["msgfleet"],
        args=[*args, "--data-dir", DATA_DIR],
        ports=[{"name": "http", "containerPort": NODE_PORT, "protocol": "TCP"}],
        env=_env(site),
        readinessProbe=pods.http_probe("/readyz", NODE_PORT, period_s=5, failures=3),
        livenessProbe=pods.http_probe("/healthz", NODE_PORT, period_s=10, failures=6),
        startupProbe=pods.http_probe("/healthz", NODE_PORT, period_s=2, failures=60),
        volumeMounts=[
            {"name": "data", "mountPath": DATA_DIR},
            {"name": "tmp", "mountPath": "/tmp"},
            {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
            {"name": "keys", "mountPath": KEYS_DIR, "readOnly": True},
        ],
    )
    # Uploads spool to /data (an emptyDir on the node's disk): request that disk, so the pod is
    # placed where it fits and is not evicted for using what it was given.
    disk = f"{spool_mib(site) + 64}Mi"
    node["resources"]["requests"]["ephemeral-storage"] = disk
    node["resources"]["limits"]["ephemeral-storage"] = disk
    volumes = [
        pods.empty_dir("data", spool_mib(site)),
        pods.empty_dir("tmp", 64),
        {"name": "config", "configMap": {"name": CONFIG}},
        {
            "name": "keys",
            "secret": {
                "secretName": SECRET,
                "defaultMode": 0o440,
                "items": [
                    {"key": "federation.key", "path": "federation.key"},
                    {"key": "media.key", "path": "media.key"},
                ],
            },
        },
    ]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": site.meta(NODE, NODE),
        "spec": {
            "replicas": sizing.pods,
            "selector": {"matchLabels": component_selector(NODE)},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": {
                "metadata": {
                    "labels": site.pod_labels(NODE),
                    "annotations": {"msgfleet.io/config-checksum": checksum},
                },
                "spec": pods.pod_spec(
                    [node], component=NODE, volumes=volumes, terminationGracePeriodSeconds=30, **_pull(site)
                ),
            },
        },
    }


def service(site: SiteSpec) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": site.meta(NODE, NODE),
        "spec": {
            "type": "ClusterIP",
            "selector": component_selector(NODE),
            "ports": [{"name": "http", "port": NODE_PORT, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def autoscaler(site: SiteSpec) -> Manifest:
    """autoscaling/v2 HPA between the sized replicas and the plan's ``max_pods``."""
    sizing = site.sizing
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": site.meta(NODE, NODE),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": NODE},
            "minReplicas": sizing.pods,
            "maxReplicas": max(sizing.max_pods, sizing.pods),
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {
                            "type": "Utilization",
                            "averageUtilization": site.plan.infra.hpa_cpu_utilization,
                        },
                    },
                }
            ],
        },
    }


def disruption_budget(site: SiteSpec, name: str, component: str) -> Manifest:
    """Keep all but one pod of ``component`` through voluntary disruptions (drains, upgrades)."""
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": site.meta(name, component),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": component_selector(component)}},
    }
