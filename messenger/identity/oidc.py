"""The node as an OpenID Connect relying party: discovery, the authorization URL (code flow with PKCE
S256, ``state`` and ``nonce``), the code exchange and ID-token validation (OpenID Connect Core 1.0
§3.1.3.7) with joserfc.

Each worker keeps one ``ProviderClient`` per configured provider. The discovery document and the JWKS are
cached for ``metadata_ttl_seconds``; a token signed with a ``kid`` the cached JWKS lacks refetches it
(the provider rotated its keys) at most once per ``jwks_min_refetch_seconds``, so a flood of tokens with
made-up ``kid`` values cannot make the node hammer the provider. Times come from the node's clock.

A provider that cannot be reached or answers 5xx is a 503 (retry later); one that answers nonsense a 502;
every problem with what the client brought (code, token) a 4xx. The JOSE work is joserfc's; only the PKCE
challenge (one line of RFC 7636 §4.2) is computed here.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any
from urllib.parse import urlencode

import httpx
from joserfc import jwt
from joserfc.errors import (
    BadSignatureError,
    ClaimError,
    DecodeError,
    ExpiredTokenError,
    InvalidKeyIdError,
    JoseError,
)
from joserfc.jwk import KeySet
from joserfc.jwt import ClaimsOption

from messenger import clock
from messenger.errors import BadGateway, BadRequest, Unauthorized, Unavailable
from messenger.identity.settings import IdentitySettings, ProviderConfig

# Signature algorithms accepted on ID tokens: asymmetric only (an HS256 token would be keyed with the client
# secret, which the node does not use for that); RS256 is the one OpenID Connect Core §3.1.3.7 requires.
ALGORITHMS = ("RS256", "PS256", "ES256", "EdDSA")
_CLAIM_CODES = {"aud": "oidc_wrong_audience", "azp": "oidc_wrong_audience", "iss": "oidc_wrong_issuer"}


def s256(verifier: str) -> str:
    """The PKCE ``code_challenge`` for ``verifier`` (RFC 7636 §4.2: BASE64URL(SHA256(verifier)))."""
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


class ProviderClient:
    """One provider as seen from one worker: cached metadata and keys, the three calls the flow needs."""

    def __init__(self, config: ProviderConfig, settings: IdentitySettings, http: httpx.AsyncClient):
        self.config, self.settings, self.http = config, settings, http
        self._metadata: dict[str, Any] | None = None
        self._metadata_at = 0.0
        self._keys: KeySet | None = None
        self._keys_at = float("-inf")

    async def _get_json(self, url: str, what: str) -> dict[str, Any]:
        try:
            response = await self.http.get(url)
        except httpx.HTTPError as exc:
            raise self._down(what, exc) from None
        return self._json(response, what)

    def _down(self, what: str, exc: Exception) -> Unavailable:
        return Unavailable(
            f"identity provider {self.config.name} is unreachable ({what}: {type(exc).__name__})",
            code="oidc_provider_unavailable",
        )

    def _json(self, response: httpx.Response, what: str) -> dict[str, Any]:
        if response.status_code >= 500:
            raise Unavailable(
                f"identity provider {self.config.name} failed ({what}: HTTP {response.status_code})",
                code="oidc_provider_unavailable",
            )
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code != 200 or not isinstance(body, dict):
            raise BadGateway(
                f"identity provider {self.config.name} answered {what} with HTTP {response.status_code}",
                code="oidc_provider_error",
            )
        return body

    async def metadata(self) -> dict[str, Any]:
        """The provider's discovery document (OpenID Connect Discovery 1.0 §4), cached."""
        t = clock.now()
        if self._metadata is None or t - self._metadata_at > self.settings.metadata_ttl_seconds:
            issuer = self.config.issuer.rstrip("/")
            doc = await self._get_json(f"{issuer}/.well-known/openid-configuration", "discovery")
            # Discovery §4.3: the issuer in the document must be the one configured, exactly.
            if doc.get("issuer") != self.config.issuer:
                raise BadGateway(
                    f"identity provider {self.config.name} names issuer {doc.get('issuer')!r}, "
                    f"not {self.config.issuer!r}",
                    code="oidc_provider_error",
                )
            for field in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
                if not isinstance(doc.get(field), str):
                    raise BadGateway(
                        f"identity provider {self.config.name}: discovery lacks {field}",
                        code="oidc_provider_error",
                    )
            self._metadata, self._metadata_at = doc, t
        return self._metadata

    async def _keyset(self, *, refresh: bool) -> KeySet:
        t = clock.now()
        stale = t - self._keys_at > self.settings.metadata_ttl_seconds
        if self._keys is None or stale or refresh:
            meta = await self.metadata()
            raw = await self._get_json(meta["jwks_uri"], "JWKS")
            try:
                self._keys = KeySet.import_key_set(raw)  # type: ignore[arg-type]
            except (JoseError, ValueError, TypeError, KeyError) as exc:
                raise BadGateway(
                    f"identity provider {self.config.name}: JWKS unusable ({exc})", code="oidc_provider_error"
                ) from None
            self._keys_at = t
        return self._keys

    async def authorization_url(self, *, state: str, nonce: str, verifier: str) -> str:
        meta = await self.metadata()
        query = {
            "response_type": "code",
            "client_id": self.config.client_id,
            "redirect_uri": self.config.redirect_uri,
            "scope": " ".join(self.config.scopes),
            "state": state,
            "nonce": nonce,
            "code_challenge": s256(verifier),
            "code_challenge_method": "S256",
        }
        return f"{meta['authorization_endpoint']}?{urlencode(query)}"

    async def exchange(self, *, code: str, verifier: str, secret: bytes) -> str:
        """Trade ``code`` for tokens at the token endpoint (client_secret_basic); returns the ID token."""
        meta = await self.metadata()
        try:
            response = await self.http.post(
                meta["token_endpoint"],
                data={
                    "grant_type": "authorization_code",
                    "code": code,
                    "redirect_uri": self.config.redirect_uri,
                    "code_verifier": verifier,
                },
                auth=(self.config.client_id, secret.decode()),
            )
        except httpx.HTTPError as exc:
            raise self._down("token", exc) from None
        if response.status_code in (400, 401):
            try:
                error = response.json().get("error")
            except (ValueError, AttributeError):
                error = None
            if error in ("invalid_grant", "invalid_request"):
                raise BadRequest(
                    f"identity provider {self.config.name} refused the code ({error}): expired, used "
                    "already, or not from this sign-in",
                    code="oidc_code_rejected",
                )
            raise BadGateway(
                f"identity provider {self.config.name} refused the node as a client ({error})",
                code="oidc_client_rejected",
            )
        body = self._json(response, "token")
        id_token = body.get("id_token")
        if not isinstance(id_token, str):
            raise BadGateway(
                f"identity provider {self.config.name} returned no id_token", code="oidc_provider_error"
            )
        return id_token

    async def validate(self, id_token: str, *, nonce: str) -> dict[str, Any]:
        """The ID token's claims after checking signature, ``iss``, ``aud``/``azp``, ``exp``, ``iat``,
        ``nonce`` and the subject claim; 401 with a code naming the first check that fails."""
        keys = await self._keyset(refresh=False)
        try:
            try:
                token = jwt.decode(id_token, keys, algorithms=ALGORITHMS)
            except InvalidKeyIdError:
                if clock.now() - self._keys_at < self.settings.jwks_min_refetch_seconds:
                    raise
                token = jwt.decode(id_token, await self._keyset(refresh=True), algorithms=ALGORITHMS)
        except InvalidKeyIdError:
            raise Unauthorized(
                f"the ID token is signed with a key {self.config.name} does not publish",
                code="oidc_unknown_key",
            ) from None
        except BadSignatureError:
            raise Unauthorized(
                "the ID token's signature does not verify", code="oidc_token_invalid"
            ) from None
        except (JoseError, ValueError) as exc:
            raise Unauthorized(f"the ID token is malformed ({exc})", code="oidc_token_invalid") from None
        claims = dict(token.claims)
        essential: ClaimsOption = {"essential": True}
        registry = jwt.JWTClaimsRegistry(
            now=lambda: int(clock.now()),
            leeway=self.settings.leeway_seconds,
            iss={"essential": True, "value": self.config.issuer},
            aud={"essential": True, "value": self.config.client_id},
            exp={"essential": True},
            iat={"essential": True},
            nonce={"essential": True, "value": nonce},
            **{self.config.subject_claim: essential},
        )
        try:
            registry.validate(claims)
        except ExpiredTokenError:
            raise Unauthorized("the ID token has expired", code="oidc_token_expired") from None
        except ClaimError as exc:
            code = _CLAIM_CODES.get(
                exc.claim, "oidc_nonce_mismatch" if exc.claim == "nonce" else "oidc_token_invalid"
            )
            raise Unauthorized(f"the ID token fails its check of {exc.claim!r}", code=code) from None
        except DecodeError as exc:  # pragma: no cover - joserfc raises ClaimError for claim values
            raise Unauthorized(f"the ID token is malformed ({exc})", code="oidc_token_invalid") from None
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if len(audiences) > 1 and claims.get("azp") != self.config.client_id:  # Core §3.1.3.7 steps 4-5
            raise Unauthorized("the ID token was issued to another client (azp)", code="oidc_wrong_audience")
        if not isinstance(claims[self.config.subject_claim], str):
            raise Unauthorized(
                f"the ID token's {self.config.subject_claim!r} is not a string", code="oidc_token_invalid"
            )
        return claims
