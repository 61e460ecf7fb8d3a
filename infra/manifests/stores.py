"""A site's stores: PostgreSQL, Redis and media (MinIO or an external S3 bucket).

Image tags are pinned releases (no ``latest``); their upstream user ids are used so the
containers run unprivileged: postgres 999 (Debian image), redis 999, MinIO 1000.
"""

from __future__ import annotations

from typing import Any

from infra.labels import component_selector
from infra.manifests import pods
from infra.manifests.spec import Manifest, SiteSpec

POSTGRES = "postgres"
REDIS = "redis"
MINIO = "minio"
POSTGRES_PORT, REDIS_PORT, MINIO_PORT = 5432, 6379, 9000
POSTGRES_IMAGE = "docker.io/library/postgres:16.4"
CNPG_IMAGE = "ghcr.io/cloudnative-pg/postgresql:16.4"
REDIS_IMAGE = "docker.io/library/redis:7.4.1"
MINIO_IMAGE = "quay.io/minio/minio:RELEASE.2024-10-13T13-34-11Z"
DATABASE = "msgfleet"
DB_SECRET = "postgres-credentials"
REDIS_SECRET = "redis-credentials"


def database_host(site: SiteSpec) -> str:
    """Read-write service of the database: CloudNativePG's ``<cluster>-rw`` or our own Service."""
    name = f"{POSTGRES}-rw" if site.plan.infra.operators.cloudnative_pg else POSTGRES
    return f"{name}.{site.namespace}.svc"


def database_url(site: SiteSpec) -> str:
    """``MSGFLEET_DATABASE_URL`` without a password: asyncpg reads it from ``PGPASSWORD``."""
    return f"postgresql+asyncpg://{DATABASE}@{database_host(site)}:{POSTGRES_PORT}/{DATABASE}"


def redis_host(site: SiteSpec) -> str:
    return f"{REDIS}.{site.namespace}.svc"


def media_endpoint(site: SiteSpec) -> str:
    return f"http://{MINIO}.{site.namespace}.svc:{MINIO_PORT}"


def credentials(site: SiteSpec, name: str, component: str, values: dict[str, Any], kind: str) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": site.meta(name, component),
        "type": kind,
        "stringData": values,
    }


def _service(site: SiteSpec, name: str, port: int, headless: bool = False) -> Manifest:
    spec: dict[str, Any] = {
        "selector": component_selector(name),
        "ports": [{"name": name, "port": port, "targetPort": port, "protocol": "TCP"}],
    }
    if headless:
        spec["clusterIP"] = "None"
    return {"apiVersion": "v1", "kind": "Service", "metadata": site.meta(name, name), "spec": spec}


def _claim(site: SiteSpec, gib: int) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": f"{gib}Gi"}},
    }
    if site.plan.infra.storage_class:
        spec["storageClassName"] = site.plan.infra.storage_class
    return {"metadata": {"name": "data", "labels": site.pod_labels("storage")}, "spec": spec}


def _secret_files(secret: str, *keys: str) -> dict[str, Any]:
    """A volume ``secrets`` with ``keys`` of ``secret`` as files (readable by the pod's fsGroup)."""
    items = [{"key": k, "path": k} for k in keys]
    return {"name": "secrets", "secret": {"secretName": secret, "defaultMode": 0o440, "items": items}}


SECRETS_DIR = "/run/secrets/msgfleet"


def redis_conf(password: str) -> str:
    """Redis's config file with its password (read from a Secret, not from the command line)."""
    return f"requirepass {password}\n"


def _stateful_set(
    site: SiteSpec,
    name: str,
    container: dict[str, Any],
    uid: int,
    gib: int,
    secret: dict[str, Any] | None = None,
) -> Manifest:
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": site.meta(name, name),
        "spec": {
            "serviceName": name,
            "replicas": 1,
            "selector": {"matchLabels": component_selector(name)},
            "template": {
                "metadata": {"labels": site.pod_labels(name)},
                "spec": pods.pod_spec(
                    [container],
                    component=name,
                    uid=uid,
                    volumes=[pods.empty_dir("tmp", 64), *([secret] if secret else [])],
                    spread=False,
                ),
            },
            "volumeClaimTemplates": [_claim(site, gib)],
            # The volumes outlive the StatefulSet, whether it is deleted or scaled down.
            "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"},
        },
    }


def postgres(site: SiteSpec) -> list[Manifest]:
    """CloudNativePG ``Cluster`` when the operator is installed, else a one-pod StatefulSet."""
    infra = site.plan.infra
    if infra.operators.cloudnative_pg:
        storage: dict[str, Any] = {"size": f"{infra.database_storage_gib}Gi"}
        if infra.storage_class:
            storage["storageClass"] = infra.storage_class
        cluster = {
            "apiVersion": "postgresql.cnpg.io/v1",
            "kind": "Cluster",
            "metadata": site.meta(POSTGRES, POSTGRES),
            "spec": {
                "instances": infra.database_instances,
                "imageName": CNPG_IMAGE,
                "storage": storage,
                "bootstrap": {
                    "initdb": {"database": DATABASE, "owner": DATABASE, "secret": {"name": DB_SECRET}}
                },
                "resources": pods.resources(1.0, 1024),
                "inheritedMetadata": {"labels": site.pod_labels(POSTGRES)},
            },
        }
        return [cluster]
    container = pods.container(
        POSTGRES,
        POSTGRES_IMAGE,
        cpu=1.0,
        memory_mib=1024,
        uid=999,
        ports=[{"name": POSTGRES, "containerPort": POSTGRES_PORT}],
        # The official image reads *_FILE variables (docker-entrypoint.sh's file_env).
        env=[
            {"name": "POSTGRES_DB", "value": DATABASE},
            {"name": "POSTGRES_USER", "value": DATABASE},
            {"name": "POSTGRES_PASSWORD_FILE", "value": f"{SECRETS_DIR}/password"},
            {"name": "PGDATA", "value": "/var/lib/postgresql/data/pgdata"},
        ],
        readinessProbe={"exec": {"command": ["pg_isready", "-U", DATABASE]}, "periodSeconds": 5},
        livenessProbe={
            "exec": {"command": ["pg_isready", "-U", DATABASE]},
            "periodSeconds": 20,
            "failureThreshold": 6,
        },
        volumeMounts=[
            {"name": "data", "mountPath": "/var/lib/postgresql/data"},
            {"name": "tmp", "mountPath": "/var/run/postgresql"},
            {"name": "secrets", "mountPath": SECRETS_DIR, "readOnly": True},
        ],
    )
    return [
        _stateful_set(
            site, POSTGRES, container, 999, infra.database_storage_gib, _secret_files(DB_SECRET, "password")
        ),
        _service(site, POSTGRES, POSTGRES_PORT, headless=False),
    ]


def redis(site: SiteSpec) -> list[Manifest]:
    container = pods.container(
        REDIS,
        REDIS_IMAGE,
        cpu=0.5,
        memory_mib=512,
        uid=999,
        command=["redis-server"],
        args=[f"{SECRETS_DIR}/redis.conf", "--appendonly", "yes", "--dir", "/data"],
        ports=[{"name": REDIS, "containerPort": REDIS_PORT}],
        readinessProbe={"tcpSocket": {"port": REDIS_PORT}, "periodSeconds": 5},
        livenessProbe={"tcpSocket": {"port": REDIS_PORT}, "periodSeconds": 20, "failureThreshold": 6},
        volumeMounts=[
            {"name": "data", "mountPath": "/data"},
            {"name": "tmp", "mountPath": "/tmp"},
            {"name": "secrets", "mountPath": SECRETS_DIR, "readOnly": True},
        ],
    )
    secret = _secret_files(REDIS_SECRET, "redis.conf")
    return [
        _stateful_set(site, REDIS, container, 999, site.plan.infra.redis_storage_gib, secret),
        _service(site, REDIS, REDIS_PORT),
    ]


def minio(site: SiteSpec) -> list[Manifest]:
    """A one-pod MinIO (dev); with ``media_store: s3`` the node uses the external bucket instead."""
    container = pods.container(
        MINIO,
        MINIO_IMAGE,
        cpu=0.5,
        memory_mib=1024,
        uid=1000,
        args=["server", "/data", "--address", f":{MINIO_PORT}"],
        env=[
            pods.secret_env("MINIO_ROOT_USER", "media-credentials", "access-key"),
            pods.secret_env("MINIO_ROOT_PASSWORD", "media-credentials", "secret-key"),
            {"name": "HOME", "value": "/tmp"},
        ],
        ports=[{"name": MINIO, "containerPort": MINIO_PORT}],
        readinessProbe={"httpGet": {"path": "/minio/health/ready", "port": MINIO_PORT}, "periodSeconds": 5},
        livenessProbe={
            "httpGet": {"path": "/minio/health/live", "port": MINIO_PORT},
            "periodSeconds": 20,
            "failureThreshold": 6,
        },
        volumeMounts=[{"name": "data", "mountPath": "/data"}, {"name": "tmp", "mountPath": "/tmp"}],
    )
    return [
        _stateful_set(site, MINIO, container, 1000, site.plan.infra.media_storage_gib),
        _service(site, MINIO, MINIO_PORT),
    ]
