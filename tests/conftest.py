"""Shared fixtures: Hypothesis profiles, SQL databases (SQLite file, PostgreSQL schema), Anvil."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings
from sqlalchemy import Engine, create_engine, make_url, text

from store.migrate import upgrade

# Anvil and the deployed vault for the contract tests.
pytest_plugins = ("tests.chain",)

settings.register_profile("ci", deadline=None, print_blob=True)
settings.register_profile("soak", deadline=None, print_blob=True)
settings.load_profile("soak" if os.environ.get("BLUEBOOK_SOAK") else "ci")

POSTGRES_URL = os.environ.get("BLUEBOOK_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A migrated, empty database: an SQLite file, or a fresh schema on the local PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.db'}"
        upgrade(url)
        db = create_engine(url)
        yield db
        db.dispose()
        return
    schema = f"test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    # The schema rides in the URL, so a process opening its own connection from the URL (the
    # projector's) lands in it too.
    db = create_engine(make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"}))
    try:
        upgrade(db)
        yield db
    finally:
        db.dispose()
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
