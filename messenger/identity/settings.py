"""Identity settings from ``MSGFLEET_OIDC_*`` environment variables (read by every worker at startup).

``MSGFLEET_OIDC_PROVIDERS`` is a JSON list of the state's identity providers, e.g.::

    [{"name": "esia", "display_name": "Gosuslugi", "issuer": "https://esia.example",
      "client_id": "msgfleet-ru", "redirect_uri": "msgfleet://oidc/esia",
      "scopes": ["openid", "phone"], "subject_claim": "sub",
      "keep_claims": ["phone_number_verified"]}]

The client secret is not a setting: it is the key store's credential ``oidc-<name>``
(``KeyStore.credential``; the file backend reads ``<keystore dir>/oidc-<name>.secret``).
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from messenger.errors import MessengerConfigError

# The only claims a state's residency policy may let the node keep: facts about the verification, no
# personal data (names, e-mail, birth date, address stay at the provider; docs/IDENTITY.md).
KEEPABLE_CLAIMS = frozenset({"phone_number_verified", "email_verified", "acr", "amr", "auth_time"})


class ProviderConfig(BaseModel):
    """One identity provider of the state (an OpenID Connect issuer where the node is a client)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,31}$", description="in URLs and the key directory")
    display_name: str = Field(min_length=1, max_length=64)
    issuer: str = Field(pattern=r"^https?://", description="OpenID issuer; discovery at /.well-known/...")
    client_id: str = Field(min_length=1)
    redirect_uri: str = Field(min_length=1, description="registered at the provider; the app receives it")
    scopes: tuple[str, ...] = ("openid", "phone")
    subject_claim: str = Field("sub", description="the claim that names the person stably")
    keep_claims: tuple[str, ...] = Field(
        (), description=f"stored with the link; among {sorted(KEEPABLE_CLAIMS)}"
    )

    @field_validator("scopes")
    @classmethod
    def _openid(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if "openid" not in value:
            raise ValueError("scopes must include 'openid'")
        return value

    @field_validator("keep_claims")
    @classmethod
    def _keepable(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        extra = sorted(set(value) - KEEPABLE_CLAIMS)
        if extra:
            raise ValueError(f"claims {extra} may not be kept (keepable: {sorted(KEEPABLE_CLAIMS)})")
        return value

    @property
    def credential(self) -> str:
        return f"oidc-{self.name}"


class IdentitySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MSGFLEET_OIDC_", extra="ignore", frozen=True)

    providers: str = Field("[]", description="JSON list of ProviderConfig")
    state_ttl_seconds: float = Field(600.0, gt=0, description="a started sign-in must finish within this")
    http_timeout_seconds: float = Field(10.0, gt=0, description="per request to a provider")
    metadata_ttl_seconds: float = Field(3600.0, gt=0, description="discovery document and JWKS cached")
    jwks_min_refetch_seconds: float = Field(
        60.0, ge=0, description="an unknown kid refetches at most this often"
    )
    leeway_seconds: int = Field(60, ge=0, description="clock skew allowed on exp / iat")

    @field_validator("providers")
    @classmethod
    def _providers(cls, value: str) -> str:
        parse_providers(value)
        return value

    def provider_list(self) -> dict[str, ProviderConfig]:
        return parse_providers(self.providers)


def parse_providers(raw: str) -> dict[str, ProviderConfig]:
    try:
        items: Any = json.loads(raw)
    except ValueError as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(items, list):
        raise ValueError("must be a JSON list of providers")
    out: dict[str, ProviderConfig] = {}
    for index, item in enumerate(items):
        try:
            provider = ProviderConfig.model_validate(item)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"])
            raise ValueError(f"provider {index}: {where}: {err['msg']}") from None
        if provider.name in out:
            raise ValueError(f"provider {index}: name {provider.name!r} given twice")
        out[provider.name] = provider
    return out


def load_identity_settings() -> IdentitySettings:
    """Identity settings from the environment; a wrong value raises one line naming the variable."""
    try:
        return IdentitySettings()
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        message = str(err["msg"]).removeprefix("Value error, ")
        raise MessengerConfigError(f"setting MSGFLEET_OIDC_{field.upper()}: {message}") from None
