"""Node settings from ``MSGFLEET_*`` environment variables or CLI flags (pydantic-settings).

``load_settings`` is the only constructor the node uses: a wrong value raises ``MessengerConfigError``
with one line naming the setting.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from messenger.errors import MessengerConfigError
from messenger.states import validate_state_id

_SCHEMES = {
    "sqlite+aiosqlite": "sqlite+aiosqlite",
    "postgresql+asyncpg": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
}

_LOOPBACK = {"127.0.0.1", "::1", "localhost"}


class Settings(BaseSettings):
    """Everything a node needs to start; immutable once loaded."""

    model_config = SettingsConfigDict(env_prefix="MSGFLEET_", extra="forbid", frozen=True)

    state: str = Field(description="ISO 3166-2 id of the state this node serves, e.g. RU-MOW")
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    data_dir: Path = Path(".msgfleet/node")
    database_url: str | None = Field(None, description="SQLAlchemy async URL; default SQLite in data_dir")
    redis_url: str | None = Field(None, description="redis:// URL for cross-worker fan-out")
    redis_prefix: str | None = Field(
        None, description="namespace of Redis channels; default msgfleet:<state>"
    )
    workers: int = Field(1, ge=1, le=64)
    base_url: str | None = Field(None, description="public URL of this node (federation)")
    peers: Path | None = Field(None, description="peers file (state, url, public_key; policy), federation")
    federation_key: Path | None = Field(
        None, description="Ed25519 signing key file (base64 seed); default data_dir/federation.key"
    )
    # Node keys (messenger/keystore, docs/SECURITY.md): a directory apart from the data dir, or a token.
    keystore: Literal["file", "pkcs11"] = "file"
    keystore_dir: Path | None = Field(
        None, description="file backend; unset: data_dir/keys (development only, a warning at start)"
    )
    keystore_pkcs11_module: Path | None = Field(None, description="PKCS#11 library, e.g. libsofthsm2.so")
    keystore_pkcs11_token: str = Field("msgfleet", description="label of the PKCS#11 token")
    keystore_pkcs11_pin: str | None = Field(None, description="user PIN of the token (a secret)")
    # Signed heads of the audit chain written outside the database (messenger/audit.py).
    audit_checkpoint_file: Path | None = Field(None, description="append a checkpoint here periodically")
    audit_checkpoint_seconds: float = Field(3600.0, gt=0, description="period of audit checkpoints")
    log_level: str = Field("info", pattern="^(critical|error|warning|info|debug)$")
    json_logs: bool = True

    dev_sms_endpoint: bool = Field(False, description="enable GET /v1/dev/sms/{phone}; never in production")
    dev_clock: bool = Field(
        False, description="test-controlled clock and sweeps (/v1/dev/clock, /v1/dev/sweep); loopback only"
    )
    secret_key: str | None = Field(None, min_length=32, description="HMAC key for codes; default a file")

    # One-time login codes: 6 digits, 5 minutes, 5 wrong attempts (issue 2).
    otp_ttl_seconds: int = Field(300, ge=1)
    otp_max_attempts: int = Field(5, ge=1)
    # Code requests per phone number / per client IP in a sliding window; 0 disables a limit.
    code_rate_window_seconds: int = Field(600, ge=1)
    code_rate_per_phone: int = Field(5, ge=0)
    code_rate_per_ip: int = Field(100, ge=0)
    # Verifies per client IP in that window: code_rate_per_ip x otp_max_attempts (no more can be honest).
    # All verifies of the node in a fixed window, whoever sends them (a flood from many addresses).
    verify_rate_global: int = Field(6000, ge=0, description="verifies per verify_rate_window_seconds")
    verify_rate_window_seconds: int = Field(60, ge=1)
    # PIN / TOTP checks per user: this many, then each further one waits 30 s, 60 s, ... up to a day.
    second_factor_free_attempts: int = Field(5, ge=1)
    second_factor_backoff_seconds: float = Field(30.0, gt=0)
    second_factor_backoff_cap_seconds: float = Field(86400.0, gt=0)
    # Device sign-in by code (messenger/identity/devicelink.py): a code lives this long; new codes per client
    # address and approvals per user in code_rate_window_seconds (approvals bound guessing of codes).
    device_link_ttl_seconds: int = Field(120, ge=1)
    device_link_rate_per_ip: int = Field(20, ge=0)
    device_link_approvals_per_user: int = Field(10, ge=0)
    # Database connections per worker (as many again may overflow) and how long a request waits for one
    # before the node answers 503; default 30 s (PostgreSQL) / 60 s (SQLite's single writer).
    db_pool_size: int = Field(20, ge=1)
    db_pool_timeout: float | None = Field(None, gt=0)

    max_body_bytes: int = Field(1_048_576, ge=1024)
    # One Megolm ciphertext per message and one Olm ciphertext per to-device message (docs/API.md).
    max_ciphertext_bytes: int = Field(65_536, ge=64, description="base64 characters per ciphertext")
    max_group_members: int = Field(100_000, ge=2, description="members of a group chat")
    max_to_device_messages: int = Field(1000, ge=1, description="recipient devices per to-device send")
    max_prekeys: int = Field(200, ge=1)
    sync_max_timeout: float = Field(30.0, ge=0)
    # Device events older than this are pruned; a device resuming from before them is told ``gap``.
    event_retention_days: float = Field(30.0, gt=0)
    event_prune_interval_seconds: float = Field(3600.0, gt=0)
    admin_phones: str = Field("", description="comma-separated E.164 phones that hold the admin role")

    # Calls, tariffs, meetings (messenger/calls, messenger/billing, messenger/meetings; docs/API.md).
    turn_secret: str | None = Field(None, min_length=16, description="coturn static-auth-secret of the state")
    turn_uris: str = Field("turn:127.0.0.1:3478?transport=udp", description="comma-separated TURN URIs")
    turn_ttl_seconds: int = Field(3600, ge=60, description="lifetime of issued TURN credentials")
    call_ring_timeout: float = Field(60.0, gt=0, description="unanswered calls end as missed after this")
    call_heartbeat_timeout: float = Field(60.0, gt=0, description="silent participants are dropped")
    call_sweep_seconds: float = Field(5.0, gt=0, description="period of the call timeout / reminder sweeps")
    tariffs: str | None = Field(None, description="tariff policy JSON (a rollout plan's tariffs section)")

    @field_validator("state")
    @classmethod
    def _state(cls, value: str) -> str:
        return validate_state_id(value)

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        scheme, sep, rest = value.partition("://")
        if not sep or scheme not in _SCHEMES:
            raise ValueError(f"{value!r} must start with one of {', '.join(sorted(_SCHEMES))}://")
        return f"{_SCHEMES[scheme]}://{rest}"

    @field_validator("tariffs")
    @classmethod
    def _tariffs(cls, value: str | None) -> str | None:
        from messenger.billing.tariffs import parse_tariffs

        parse_tariffs(value)
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError(f"{value!r} must start with redis://, rediss:// or unix://")
        return value

    @model_validator(mode="after")
    def _dev_clock_only_in_development(self) -> Settings:
        if self.dev_clock and self.host not in _LOOPBACK:
            raise ValueError(f"dev_clock is for development only: host must be loopback, not {self.host}")
        return self

    @model_validator(mode="after")
    def _workers_need_shared_state(self) -> Settings:
        if self.workers > 1 and self.is_sqlite:
            raise ValueError("workers > 1 needs a PostgreSQL database_url (SQLite is single-process)")
        if self.workers > 1 and self.redis_url is None:
            raise ValueError("workers > 1 needs redis_url so that deliveries reach every worker")
        return self

    @model_validator(mode="after")
    def _keys_apart_from_data(self) -> Settings:
        if self.keystore == "pkcs11" and not (self.keystore_pkcs11_module and self.keystore_pkcs11_pin):
            raise ValueError("keystore pkcs11 needs keystore_pkcs11_module and keystore_pkcs11_pin")
        if self.keystore_dir is not None and self.keystore_dir.resolve().is_relative_to(
            self.data_dir.resolve()
        ):
            raise ValueError(
                f"keystore_dir {self.keystore_dir} is inside data_dir {self.data_dir}: one backup would hold "
                "the data and its keys (leave keystore_dir unset for the development layout)"
            )
        return self

    @property
    def db_url(self) -> str:
        """The database URL in effect (SQLite file in the data dir unless one was given)."""
        return self.database_url or f"sqlite+aiosqlite:///{self.data_dir.resolve() / 'node.db'}"

    @property
    def is_sqlite(self) -> bool:
        return self.db_url.startswith("sqlite")

    @property
    def channel_prefix(self) -> str:
        return self.redis_prefix or f"msgfleet:{self.state}"

    @property
    def sms_path(self) -> Path:
        return self.data_dir / "sms.jsonl"


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment, with ``overrides`` (CLI flags; ``None`` means not given) on top."""
    given = {key: value for key, value in overrides.items() if value is not None}
    try:
        return Settings(**given)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(part) for part in err["loc"])
        message = str(err["msg"]).removeprefix("Value error, ")
        where = f"setting {field} (MSGFLEET_{field.upper()})" if field else "settings"
        raise MessengerConfigError(f"{where}: {message}") from None
