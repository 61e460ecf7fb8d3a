"""Fixtures of the key-store tests: SoftHSM2 tokens (softhsm.py)."""

from __future__ import annotations

from pathlib import Path

import pkcs11
import pytest
from softhsm import Token, make_token


@pytest.fixture
def softhsm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Token:
    """A fresh token; SOFTHSM2_CONF points this process at it. python-pkcs11 loads a module once per
    process, and SoftHSM2 reads its configuration in C_Initialize: re-initialise it for this token."""
    token = make_token(tmp_path / "hsm")
    monkeypatch.setenv("SOFTHSM2_CONF", str(token.conf))
    pkcs11.lib(token.module).reinitialize()
    return token


@pytest.fixture(scope="module")
def module_softhsm(tmp_path_factory: pytest.TempPathFactory) -> Token:
    """A token shared by a module's node (the node and the CLI get SOFTHSM2_CONF through ``env()``)."""
    return make_token(tmp_path_factory.mktemp("hsm"))
