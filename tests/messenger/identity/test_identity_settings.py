"""``MSGFLEET_OIDC_PROVIDERS``: a wrong provider list stops the node with one line; personal claims can
never be configured as kept (the residency rule, docs/IDENTITY.md)."""

from __future__ import annotations

import json

import pytest

from messenger.errors import MessengerConfigError
from messenger.identity.settings import load_identity_settings

GOOD = {
    "name": "esia",
    "display_name": "Gosuslugi",
    "issuer": "https://esia.example",
    "client_id": "msgfleet",
    "redirect_uri": "msgfleet://oidc/esia",
}


def settings_with(monkeypatch: pytest.MonkeyPatch, providers: object) -> object:
    monkeypatch.setenv(
        "MSGFLEET_OIDC_PROVIDERS", providers if isinstance(providers, str) else json.dumps(providers)
    )
    return load_identity_settings()


def test_a_good_list_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = settings_with(monkeypatch, [{**GOOD, "keep_claims": ["phone_number_verified"]}])
    provider = settings.provider_list()["esia"]  # type: ignore[attr-defined]
    assert provider.credential == "oidc-esia" and provider.scopes == ("openid", "phone")


@pytest.mark.parametrize(
    ("providers", "message"),
    [
        ("[{", "not JSON"),
        ({"name": "esia"}, "must be a JSON list"),
        (
            [{**GOOD, "keep_claims": ["email", "given_name"]}],
            "claims ['email', 'given_name'] may not be kept",
        ),
        ([{**GOOD, "scopes": ["phone"]}], "scopes must include 'openid'"),
        ([GOOD, GOOD], "name 'esia' given twice"),
        ([{**GOOD, "issuer": "esia.example"}], "provider 0: issuer"),
    ],
)
def test_a_wrong_list_is_one_line(monkeypatch: pytest.MonkeyPatch, providers: object, message: str) -> None:
    with pytest.raises(MessengerConfigError) as err:
        settings_with(monkeypatch, providers)
    line = str(err.value)
    assert line.startswith("setting MSGFLEET_OIDC_PROVIDERS: ") and message in line and "\n" not in line
