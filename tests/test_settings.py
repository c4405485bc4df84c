"""Settings: environment over TOML over defaults; outside development, no default secrets."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from bluebook.settings import DEVELOPMENT_SIGNER_KEY, Mode, load_settings

PRODUCTION = {
    "BLUEBOOK_MODE": "production",
    "BLUEBOOK_RPC_URL": "http://127.0.0.1:8545",
    "BLUEBOOK_VAULT_ADDRESS": "0x" + "11" * 20,
    "BLUEBOOK_DB_URL": "postgresql+psycopg://bluebook@db/bluebook",
    "BLUEBOOK_ADMIN_TOKEN": "a-long-random-token",
}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no bluebook.toml unless a test writes one
    for name in list(os.environ):
        if name.startswith("BLUEBOOK_"):
            monkeypatch.delenv(name)


def test_development_defaults_run_with_nothing_set() -> None:
    settings = load_settings()
    assert settings.mode is Mode.DEVELOPMENT and settings.port == 8000 and settings.host == "127.0.0.1"
    assert settings.database_url().endswith("/data/store.db")
    assert settings.secret("signer_key") == DEVELOPMENT_SIGNER_KEY


def test_the_environment_wins_over_the_toml_file_and_arguments_over_both(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "bluebook.toml").write_text('port = 8100\nhost = "127.0.0.2"\njournal_fsync = "always"\n')
    monkeypatch.setenv("BLUEBOOK_PORT", "8200")
    settings = load_settings()
    assert (settings.port, settings.host, settings.journal_fsync) == (8200, "127.0.0.2", "always")
    assert load_settings(port=8300, host=None).port == 8300


def test_bad_values_are_refused_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BLUEBOOK_JOURNAL_FSYNC", "sometimes")
    with pytest.raises(ValidationError, match="journal_fsync"):
        load_settings()


@pytest.mark.parametrize("signer", [None, DEVELOPMENT_SIGNER_KEY])
def test_production_refuses_a_missing_or_development_signer_key(
    monkeypatch: pytest.MonkeyPatch, signer: str | None
) -> None:
    for name, value in PRODUCTION.items():
        monkeypatch.setenv(name, value)
    if signer:
        monkeypatch.setenv("BLUEBOOK_SIGNER_KEY", signer)
    with pytest.raises(ValidationError, match="signer key"):
        load_settings()


def test_production_refuses_the_default_admin_token(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name, value in PRODUCTION.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("BLUEBOOK_ADMIN_TOKEN")
    monkeypatch.setenv("BLUEBOOK_SIGNER_KEY", "0x" + "22" * 32)
    with pytest.raises(ValidationError, match="admin token"):
        load_settings()


def test_production_takes_its_secrets_from_files_and_never_shows_them(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name, value in PRODUCTION.items():
        monkeypatch.setenv(name, value)
    key_file = tmp_path / "signer.key"
    key_file.write_text("0x" + "33" * 32 + "\n")
    monkeypatch.setenv("BLUEBOOK_SIGNER_KEY_FILE", str(key_file))
    settings = load_settings()
    assert settings.secret("signer_key") == "0x" + "33" * 32
    assert "a-long-random-token" not in repr(settings) and "33" * 32 not in repr(settings)


def test_the_command_line_takes_its_defaults_from_the_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """``bluebook migrate`` with no flags migrates the store the environment names."""
    from bluebook.cli import main

    monkeypatch.setenv("BLUEBOOK_DATA_DIR", str(tmp_path / "elsewhere"))
    assert main(["migrate"]) == 0
    assert (tmp_path / "elsewhere" / "store.db").exists()
