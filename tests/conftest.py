"""Shared fixtures: database URLs for SQLite and, where reachable, PostgreSQL.

Storage tests take the ``database_url`` fixture and run once per backend.
PostgreSQL runs when it answers at ``COFLEX_TEST_POSTGRES`` (default
127.0.0.1:5432, user postgres, database test); each test gets a database of
its own. With ``COFLEX_REQUIRE_POSTGRES=1`` (set by ``.ci/run``) an unreachable
server fails the tests instead of skipping them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

# Personal data is stored encrypted: give the whole run (and the CLI processes
# it starts) one data key, so that no test reads or writes a user's key file.
os.environ.setdefault("COFLEX_DATA_KEYS", Fernet.generate_key().decode("ascii"))

POSTGRES_ADMIN_URL = os.environ.get(
    "COFLEX_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def _postgres_reachable() -> bool:
    try:
        engine = create_engine(POSTGRES_ADMIN_URL)
        with engine.connect():
            pass
        engine.dispose()
        return True
    except OperationalError:
        return False


POSTGRES_UP = _postgres_reachable()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """Create a fresh PostgreSQL database for one test and drop it afterwards."""
    if not POSTGRES_UP:
        if os.environ.get("COFLEX_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL is required but does not answer at {POSTGRES_ADMIN_URL}")
        pytest.skip("PostgreSQL is not reachable")
    name = f"coflex_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database URL on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'coflex.sqlite'}"
    return request.getfixturevalue("postgres_url")
