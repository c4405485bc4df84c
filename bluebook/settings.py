"""One settings object for every bluebook process, from the environment and a TOML file.

Sources, highest first: keyword arguments (the command line), environment variables prefixed
``BLUEBOOK_`` (``BLUEBOOK_DB_URL``, ``BLUEBOOK_RPC_URL``, ...), the TOML file named by
``BLUEBOOK_CONFIG`` (default ``bluebook.toml`` in the working directory, if it exists), then the
embedded development defaults. A secret may also come from a file (``signer_key_file``,
``admin_token_file``), as container secrets are mounted.

Development mode (the default) runs on those defaults: SQLite in the data directory, a local
chain, Anvil's well-known first account as the signer. Any other mode refuses to start with a
default secret or the development signer key, so a production deployment cannot inherit them.
"""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

#: Anvil's (and Hardhat's) first development account: public knowledge, never for real funds.
DEVELOPMENT_SIGNER_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
DEVELOPMENT_ADMIN_TOKEN = "development-admin-token"


class Mode(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BLUEBOOK_", extra="forbid")

    mode: Mode = Mode.DEVELOPMENT
    data_dir: Path = Path("data")
    markets_file: Path | None = None
    db_url: str | None = Field(None, description="SQLAlchemy URL; default: SQLite in the data directory")
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    journal_fsync: str = Field("batch", pattern="^(always|batch|off)$")
    snapshot_every_s: float = Field(300.0, gt=0)
    rpc_url: str | None = Field(
        None, description="the chain's JSON-RPC URL; none in development: a local Anvil"
    )
    vault_address: str | None = None
    confirmations: int = Field(3, ge=0)
    signer_key: SecretStr | None = None
    signer_key_file: Path | None = None
    admin_token: SecretStr | None = None
    admin_token_file: Path | None = None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml = TomlConfigSettingsSource(
            settings_cls, toml_file=Path(os.environ.get("BLUEBOOK_CONFIG", "bluebook.toml"))
        )
        return init_settings, env_settings, toml

    @model_validator(mode="after")
    def _no_development_secrets_outside_development(self) -> Settings:
        if self.mode is Mode.DEVELOPMENT:
            return self
        if self.secret("signer_key") in (None, DEVELOPMENT_SIGNER_KEY):
            raise ValueError(
                f"{self.mode} mode needs a signer key of its own (signer_key or signer_key_file)"
            )
        if self.secret("admin_token") in (None, DEVELOPMENT_ADMIN_TOKEN):
            raise ValueError(
                f"{self.mode} mode needs an admin token of its own (admin_token or admin_token_file)"
            )
        if self.rpc_url is None or self.vault_address is None:
            raise ValueError(f"{self.mode} mode needs rpc_url and vault_address")
        if self.db_url is None:
            raise ValueError(f"{self.mode} mode needs db_url (PostgreSQL)")
        return self

    def secret(self, name: str) -> str | None:
        """A secret's value: given directly, or read from its file; the development default in
        development mode when neither is given."""
        value: SecretStr | None = getattr(self, name)
        path: Path | None = getattr(self, f"{name}_file")
        if value is not None:
            return value.get_secret_value()
        if path is not None:
            return path.read_text().strip()
        if self.mode is Mode.DEVELOPMENT:
            return DEVELOPMENT_SECRETS[name]
        return None

    def database_url(self) -> str:
        return self.db_url or f"sqlite:///{(self.data_dir / 'store.db').resolve()}"


DEVELOPMENT_SECRETS: dict[str, str] = {
    "signer_key": DEVELOPMENT_SIGNER_KEY,
    "admin_token": DEVELOPMENT_ADMIN_TOKEN,
}


def load_settings(**overrides: Any) -> Settings:
    """The settings, with ``overrides`` (e.g. command-line options that were given) on top."""
    return Settings(**{key: value for key, value in overrides.items() if value is not None})
