"""ComponentResources: one per concern of a site, composed by :class:`MessengerSite`.

Each component builds its manifests with the pure builders in :mod:`infra.manifests` and registers
them with the site's own provider (never a default provider).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from infra import labels
from infra.federation import public_key
from infra.manifests import edge, network, node, stores, turn
from infra.manifests import reservation as reservation_manifests
from infra.manifests.spec import Manifest, SiteSpec, namespace_manifest
from msgfleet.schema import Plan
from msgfleet.sizing import Reservation

TYPE = "msgfleet:k8s"

_CLASSES: dict[tuple[str, str], Any] = {
    ("v1", "Namespace"): k8s.core.v1.Namespace,
    ("v1", "ConfigMap"): k8s.core.v1.ConfigMap,
    ("v1", "Secret"): k8s.core.v1.Secret,
    ("v1", "Service"): k8s.core.v1.Service,
    ("v1", "ResourceQuota"): k8s.core.v1.ResourceQuota,
    ("apps/v1", "Deployment"): k8s.apps.v1.Deployment,
    ("apps/v1", "StatefulSet"): k8s.apps.v1.StatefulSet,
    ("batch/v1", "Job"): k8s.batch.v1.Job,
    ("autoscaling/v2", "HorizontalPodAutoscaler"): k8s.autoscaling.v2.HorizontalPodAutoscaler,
    ("policy/v1", "PodDisruptionBudget"): k8s.policy.v1.PodDisruptionBudget,
    ("networking.k8s.io/v1", "NetworkPolicy"): k8s.networking.v1.NetworkPolicy,
    ("networking.k8s.io/v1", "Ingress"): k8s.networking.v1.Ingress,
    ("scheduling.k8s.io/v1", "PriorityClass"): k8s.scheduling.v1.PriorityClass,
}
_PY_NAMES = {
    "stringData": "string_data",
    "globalDefault": "global_default",
    "preemptionPolicy": "preemption_policy",
}


def resource_name(state: str, manifest: Manifest) -> str:
    """Logical name: ``<state>-<kind>-<name>``, unique in a stack (also across dev's shared cluster)."""
    return f"{labels.slug(state)}-{manifest['kind'].lower()}-{manifest['metadata']['name']}"


def reservation_urn(state: str) -> str:
    """URN of ``state``'s :class:`CapacityReservation` (a child of the stack), in this stack."""
    typ, name = f"{TYPE}:CapacityReservation", f"{labels.slug(state)}-capacityreservation"
    return f"urn:pulumi:{pulumi.get_stack()}::{pulumi.get_project()}::{typ}::{name}"


def reserved_before(site: SiteSpec) -> list[pulumi.Alias]:
    """Aliases of a site's namespace and default deny: a state opened after phase 1 was a
    :class:`CapacityReservation` during the phase before, which created both objects. Without the
    alias the new parent gives them new URNs, and Pulumi would create the namespace again (which
    fails: it exists) and then delete the old one, and with it the site."""
    if site.state in site.plan.live_sites(1):
        return []
    return [pulumi.Alias(parent=reservation_urn(site.state))]


def keep_data(protect: bool) -> dict[str, Any]:
    """Options of an object that holds data (a namespace, a database, a volume's StatefulSet):
    deleting it from the program leaves it in the cluster, and ``protect`` refuses a deletion or
    replacement until someone runs ``pulumi state unprotect``."""
    return {"retain_on_delete": True, "protect": protect}


DATA_KINDS = {"Namespace", "StatefulSet", "Cluster"}
"""Kinds that hold a site's data (CloudNativePG's ``Cluster`` owns its PVCs)."""


def register(state: str, manifest: Manifest, opts: pulumi.ResourceOptions) -> pulumi.CustomResource:
    """Create the pulumi-kubernetes resource for ``manifest`` (a CustomResource for CRD kinds)."""
    api, kind = manifest["apiVersion"], manifest["kind"]
    body = {_PY_NAMES.get(k, k): v for k, v in manifest.items() if k not in ("apiVersion", "kind")}
    name = resource_name(state, manifest)
    cls = _CLASSES.get((api, kind))
    if cls is None:
        return k8s.apiextensions.CustomResource(name, api_version=api, kind=kind, opts=opts, **body)
    resource: pulumi.CustomResource = cls(name, opts=opts, **body)
    return resource


class _Part(pulumi.ComponentResource):
    """A component whose children are manifests registered with one site's provider."""

    def __init__(self, kind: str, state: str, opts: pulumi.ResourceOptions) -> None:
        super().__init__(f"{TYPE}:{kind}", f"{labels.slug(state)}-{kind.lower()}", None, opts)
        self.state = state

    def add(
        self,
        manifests: Sequence[Manifest | None],
        provider: k8s.Provider,
        protect: bool = True,
        moved: Mapping[str, list[pulumi.Alias]] | None = None,
        **extra: Any,
    ) -> None:
        """Register ``manifests``; data kinds are kept (:func:`keep_data`); ``moved`` maps a
        manifest's name to the aliases of its previous identity."""
        for manifest in manifests:
            if manifest is None:
                continue
            opts = pulumi.ResourceOptions(parent=self, provider=provider, **extra)
            if manifest["kind"] in DATA_KINDS:
                opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(**keep_data(protect)))
            aliases = (moved or {}).get(manifest["metadata"]["name"])
            if aliases:
                opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(aliases=aliases))
            register(self.state, manifest, opts)


class SiteIdentity(pulumi.ComponentResource):
    """A site's generated keys: the Ed25519 federation seed (its public key is an output), the media,
    audit and TOTP keys, the HMAC key for login codes and the stores' passwords. Created before the
    sites so that every site's peers file can carry its peers' public keys."""

    def __init__(self, state: str, opts: pulumi.ResourceOptions | None = None) -> None:
        slug = labels.slug(state)
        super().__init__(f"{TYPE}:SiteIdentity", f"{slug}-identity", None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.federation_seed = random.RandomBytes(f"{slug}-federation-seed", length=32, opts=child)
        self.media_key = random.RandomBytes(f"{slug}-media-key", length=32, opts=child)
        # The audit chain's HMAC key and the TOTP sealing key: every replica must hold the same ones
        # (messenger/keystore), so they are generated here, not by each pod.
        self.audit_key = random.RandomBytes(f"{slug}-audit-key", length=32, opts=child)
        self.totp_key = random.RandomBytes(f"{slug}-totp-key", length=32, opts=child)
        self.passwords = {
            purpose: random.RandomPassword(f"{slug}-{purpose}", length=length, special=False, opts=child)
            for purpose, length in (
                ("secret-key", 48),
                ("turn", 40),
                ("postgres", 32),
                ("redis", 32),
                ("minio", 32),
            )
        }
        self.public_key: pulumi.Output[str] = pulumi.Output.unsecret(
            self.federation_seed.base64.apply(public_key)
        )
        self.register_outputs({"public_key": self.public_key})

    def password(self, purpose: str) -> pulumi.Output[str]:
        return self.passwords[purpose].result


class SiteSecrets(_Part):
    def __init__(
        self, site: SiteSpec, ident: SiteIdentity, provider: k8s.Provider, opts: pulumi.ResourceOptions
    ):
        super().__init__("SiteSecrets", site.state, opts)
        db_password, redis_password = ident.password("postgres"), ident.password("redis")
        # The Redis client takes its password only from the URL (redis-py); the database's comes
        # from PGPASSWORD (asyncpg), so its URL in the node's env carries none.
        redis_url = pulumi.Output.concat("redis://:", redis_password, f"@{stores.redis_host(site)}:6379/0")
        values: dict[str, Any] = {
            "federation.key": ident.federation_seed.base64,
            "media.key": ident.media_key.hex,
            "audit.key": ident.audit_key.hex,
            "totp.key": ident.totp_key.hex,
            "secret-key": ident.password("secret-key"),
            "redis-url": redis_url,
        }
        manifests = [
            node.secret(site, values),
            stores.credentials(
                site,
                node.TURN_SECRET,
                "turn",
                {
                    "static-auth-secret": ident.password("turn"),
                    turn.AUTH_CONF: ident.password("turn").apply(turn.auth_conf),
                },
                "Opaque",
            ),
            stores.credentials(
                site,
                stores.DB_SECRET,
                stores.POSTGRES,
                {"username": stores.DATABASE, "password": db_password},
                "kubernetes.io/basic-auth",
            ),
            stores.credentials(
                site,
                stores.REDIS_SECRET,
                stores.REDIS,
                {"password": redis_password, "redis.conf": redis_password.apply(stores.redis_conf)},
                "Opaque",
            ),
        ]
        if site.plan.infra.media_store == "minio":
            media = {
                "endpoint": stores.media_endpoint(site),
                "access-key": "msgfleet",
                "secret-key": ident.password("minio"),
            }
            manifests.append(stores.credentials(site, node.MEDIA_SECRET, stores.MINIO, media, "Opaque"))
        self.add(manifests, provider)
        self.register_outputs({})


class SiteStores(_Part):
    def __init__(self, site: SiteSpec, provider: k8s.Provider, opts: pulumi.ResourceOptions):
        super().__init__("SiteStores", site.state, opts)
        manifests = stores.postgres(site) + stores.redis(site)
        if site.plan.infra.media_store == "minio":
            manifests += stores.minio(site)
        self.add(manifests, provider, protect=site.protect)
        self.register_outputs({})


class MessengerNode(_Part):
    """The node: its migration Job, ConfigMap (peers, tariffs), Deployment, Service, HPA and PDB.

    The Job waits for ``ready`` (stores, secrets, network policies) and everything else for the
    Job: Pulumi waits for a Job to complete, so the migrations run once before the pods roll."""

    def __init__(
        self,
        site: SiteSpec,
        peer_keys: Mapping[str, pulumi.Output[str]],
        provider: k8s.Provider,
        opts: pulumi.ResourceOptions,
        ready: Sequence[pulumi.Resource] = (),
    ):
        super().__init__("MessengerNode", site.state, opts)
        peers = list(site.peers)
        keys = [peer_keys[p.state] for p in peers]
        forbidden = [
            s.state for s in site.plan.sites if s.state not in {p.state for p in peers} | {site.state}
        ]
        peers_file = pulumi.Output.all(*keys).apply(
            lambda ks: node.peers_json(
                site.state,
                [{"state": p.state, "url": p.url, "public_key": k} for p, k in zip(peers, ks, strict=True)],
                forbidden,
            )
        )
        manifests: list[Manifest | None] = [
            node.config_map(site, peers_file),
            node.deployment(
                site, peers_file.apply(lambda text: node.config_checksum(text, node.tariffs_json(site)))
            ),
            node.service(site),
            node.autoscaler(site),
            node.disruption_budget(site, "node", "node"),
        ]
        job_opts = pulumi.ResourceOptions(parent=self, provider=provider, depends_on=list(ready))
        job = register(site.state, node.migration_job(site), job_opts)
        self.add(manifests, provider, depends_on=[job])
        self.register_outputs({})


class TurnRelay(_Part):
    def __init__(self, site: SiteSpec, provider: k8s.Provider, opts: pulumi.ResourceOptions):
        super().__init__("TurnRelay", site.state, opts)
        pdb = node.disruption_budget(site, "turn", "turn") if site.sizing.turn_relays > 1 else None
        self.add([turn.deployment(site), turn.service(site), pdb], provider)
        self.register_outputs({})


class SiteEdge(_Part):
    def __init__(self, site: SiteSpec, provider: k8s.Provider, opts: pulumi.ResourceOptions):
        super().__init__("SiteEdge", site.state, opts)
        self.add([*edge.ingresses(site), edge.service_monitor(site)], provider)
        self.register_outputs({})


class SiteNetwork(_Part):
    def __init__(self, site: SiteSpec, provider: k8s.Provider, opts: pulumi.ResourceOptions):
        super().__init__("SiteNetwork", site.state, opts)
        moved = {network.DEFAULT_DENY: reserved_before(site)}
        self.add(network.policies(site), provider, moved=moved)
        self.register_outputs({})


class MessengerSite(pulumi.ComponentResource):
    """Everything one state runs: namespace, secrets, stores, node, TURN, network policies, edge."""

    def __init__(
        self,
        site: SiteSpec,
        identity: SiteIdentity,
        peer_keys: Mapping[str, pulumi.Output[str]],
        provider: k8s.Provider,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(f"{TYPE}:MessengerSite", labels.slug(site.state), None, opts)
        host_network = site.exposure.turn == "host_network"
        ns_manifest = namespace_manifest(site.plan, site.state, site.phase, "site", host_network)
        ns_opts = pulumi.ResourceOptions(
            parent=self, provider=provider, aliases=reserved_before(site), **keep_data(site.protect)
        )
        ns = register(site.state, ns_manifest, ns_opts)
        child = pulumi.ResourceOptions(parent=self, depends_on=[ns])
        network = SiteNetwork(site, provider, child)
        secrets = SiteSecrets(site, identity, provider, child)
        site_stores = SiteStores(site, provider, child)
        MessengerNode(site, peer_keys, provider, child, ready=[network, secrets, site_stores])
        TurnRelay(site, provider, child)
        SiteEdge(site, provider, child)
        self.url = site.base_url
        self.federation_endpoint = f"{site.base_url}/_federation/"
        self.public_key = identity.public_key
        self.register_outputs(
            {"url": self.url, "federation_endpoint": self.federation_endpoint, "public_key": self.public_key}
        )


class CapacityReservation(_Part):
    """Placeholder capacity in a next-phase state's cluster, in that state's (future) namespace."""

    def __init__(
        self,
        plan: Plan,
        reservation: Reservation,
        provider: k8s.Provider,
        protect: bool = True,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("CapacityReservation", reservation.state, opts or pulumi.ResourceOptions())
        state, phase = reservation.state, reservation.phase
        ns = register(
            state,
            namespace_manifest(plan, state, phase, "reservation", False),
            pulumi.ResourceOptions(parent=self, provider=provider, **keep_data(protect)),
        )
        deny = network.default_deny(plan, state, phase, role="reservation")
        self.add([deny, *reservation_manifests.manifests(plan, reservation)], provider, depends_on=[ns])
        self.register_outputs({"pods": reservation.pods})
