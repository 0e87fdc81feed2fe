"""`coflex registration` and `coflex consent` as an operator runs them.

Code section E, Oversight: "All flexibility services providers must be
registered with a Regulatory Authority". Code section D, Privacy: customer
data is used only under the customer's consent.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from coflex.adapters.store.database import (
    migrate,
    open_engine,
    session_factory,
    transaction,
)
from coflex.adapters.store.models import Aggregator, Customer, Program
from coflex.domain.programs import ProgramTerms
from coflex.errors import RegistrationError
from coflex.services import oversight

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def coflex(*args: str, database: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "COLUMNS": "200", "COFLEX_DATABASE_URL": database}
    return subprocess.run(
        [sys.executable, "-m", "coflex.entrypoints.cli", *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture
def database(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'coflex.sqlite'}"
    engine = open_engine(url)
    migrate(engine)
    terms = ProgramTerms()
    with transaction(session_factory(engine)) as session:
        aggregator = Aggregator(
            name="a", jurisdiction="US-NC", registration_number="r", registered_at=NOW
        )
        session.add(aggregator)
        session.flush()
        session.add_all(
            [
                Customer(
                    aggregator_id=aggregator.id,
                    reference="A1-C000001",
                    name="Customer",
                    preferred_channel="email",
                    created_at=NOW,
                ),
                Program(
                    aggregator_id=aggregator.id,
                    name="p",
                    event_class="reliability",
                    terms=terms.to_json(),
                    terms_hash=terms.parameters_hash(),
                    season_start=date(2026, 5, 1),
                    season_end=date(2026, 10, 31),
                    created_at=NOW,
                ),
            ]
        )
    engine.dispose()
    return url


def _require(database: str, at: datetime) -> None:
    engine = open_engine(database)
    try:
        with session_factory(engine)() as session:
            oversight.require_registration(session, 1, at)
    finally:
        engine.dispose()


def test_registration_add_list_renew(database: str) -> None:
    added = coflex(
        "registration", "add", "--jurisdiction", "US-NC",
        "--authority", "North Carolina Utilities Commission",
        "--number", "NC-DRP-1", "--from", "2026-01-01T00:00+00:00",
        "--expires", "2027-01-01T00:00+00:00", database=database,
    )
    assert added.returncode == 0, added.stderr
    assert "registration 1 (NC-DRP-1, US-NC) recorded" in added.stdout

    listed = coflex(
        "registration", "list", "--at", "2026-12-10T00:00+00:00", database=database
    )
    assert "in force, renew: expires within 30 days" in listed.stdout

    with pytest.raises(RegistrationError, match="no registration in force in US-NC"):
        _require(database, datetime(2027, 1, 2, tzinfo=UTC))

    renewed = coflex(
        "registration", "renew", "1", "--expires", "2028-01-01T00:00+00:00",
        "--at", "2026-12-10T00:00+00:00", database=database,
    )
    assert renewed.returncode == 0, renewed.stderr
    assert "renewed as 2" in renewed.stdout
    _require(database, datetime(2027, 1, 2, tzinfo=UTC))

    listed = coflex(
        "registration", "list", "--at", "2027-01-02T00:00+00:00", database=database
    )
    rows = [line for line in listed.stdout.splitlines() if "NC-DRP-1" in line]
    assert len(rows) == 2
    assert "not in force" in rows[0]
    assert "2027-01-01" in rows[1]
    assert "in force" in rows[1]


def test_registration_bad_input(database: str) -> None:
    backwards = coflex(
        "registration", "add", "--jurisdiction", "US-NC", "--authority", "NCUC",
        "--number", "X", "--from", "2026-01-01T00:00+00:00",
        "--expires", "2025-01-01T00:00+00:00", database=database,
    )
    assert backwards.returncode == 2
    assert "expires at 2025-01-01" in backwards.stderr
    missing = coflex(
        "registration", "renew", "9", "--expires", "2028-01-01T00:00+00:00",
        database=database,
    )
    assert missing.returncode == 2
    assert "registration 9 not found" in missing.stderr


def test_consent_grant_revoke_list(database: str) -> None:
    granted = coflex(
        "consent", "grant", "A1-C000001", "--purpose", "measurement",
        "--scope", "15-minute meter data", "--at", "2026-01-02T00:00+00:00",
        database=database,
    )
    assert granted.returncode == 0, granted.stderr
    assert "consent 1 granted" in granted.stdout

    revoked = coflex(
        "consent", "revoke", "A1-C000001", "--purpose", "measurement",
        "--at", "2026-02-01T00:00+00:00", database=database,
    )
    assert revoked.returncode == 0, revoked.stderr
    assert "revoked consent 1" in revoked.stdout

    again = coflex(
        "consent", "revoke", "A1-C000001", "--purpose", "measurement",
        database=database,
    )
    assert again.returncode == 2
    assert "no live measurement consent" in again.stderr

    listed = coflex("consent", "list", "A1-C000001", database=database)
    assert "revoked" in listed.stdout
    assert "15-minute meter data" in listed.stdout
