"""Retention, legal hold and purge on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from coflex.adapters.store.database import (
    migrate,
    open_engine,
    session_factory,
    transaction,
)
from coflex.adapters.store.models import (
    Aggregator,
    Consent,
    Contract,
    Customer,
    Program,
)
from coflex.domain.programs import ProgramTerms
from coflex.errors import InputError
from coflex.services import audit, records

ACCEPTED = datetime(2020, 3, 1, tzinfo=UTC)
ENDED = datetime(2021, 3, 1, tzinfo=UTC)
# Six years after acceptance is later than two years after the end.
EXPIRY = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture
def factory(database_url: str):  # type: ignore[no-untyped-def]
    engine = open_engine(database_url)
    migrate(engine)
    factory = session_factory(engine)
    terms = ProgramTerms()
    with transaction(factory) as session:
        aggregator = Aggregator(
            name="a",
            jurisdiction="US-NC",
            registration_number="r",
            registered_at=ACCEPTED,
        )
        session.add(aggregator)
        session.flush()
        program = Program(
            aggregator_id=aggregator.id,
            name="p",
            event_class="reliability",
            terms=terms.to_json(),
            terms_hash=terms.parameters_hash(),
            season_start=date(2020, 5, 1),
            season_end=date(2020, 10, 31),
            created_at=ACCEPTED,
        )
        session.add(program)
        session.flush()
        for i, ended in enumerate([ENDED, ENDED, None]):
            customer = Customer(
                aggregator_id=aggregator.id,
                reference=f"A1-C{i + 1:06d}",
                name=f"Name {i}",
                email=f"c{i}@example.org",
                phone="+1-336-555-0100",
                preferred_channel="sms",
                created_at=ACCEPTED,
            )
            session.add(customer)
            session.flush()
            session.add(
                Contract(
                    customer_id=customer.id,
                    program_id=program.id,
                    status="terminated" if ended else "active",
                    accepted_at=ACCEPTED,
                    cooling_off_ends_at=ACCEPTED + timedelta(days=14),
                    activated_at=ACCEPTED + timedelta(days=14),
                    terminated_at=ended,
                    terms=terms.to_json(),
                    terms_hash=terms.parameters_hash(),
                )
            )
            session.add(
                Consent(
                    customer_id=customer.id,
                    purpose="measurement",
                    scope="meter data",
                    channel="web",
                    granted_at=ACCEPTED,
                    expires_at=None,
                    revoked_at=None,
                )
            )
    yield factory
    engine.dispose()


def _names(factory) -> list[str]:  # type: ignore[no-untyped-def]
    with factory() as session:
        return list(session.scalars(select(Customer.name).order_by(Customer.id)))


def test_schedule_takes_longest_period(factory) -> None:  # type: ignore[no-untyped-def]
    with factory() as session:
        schedule = records.retention_schedule(session, EXPIRY)
    assert [item.retain_until for item in schedule] == [EXPIRY, EXPIRY, None]


def test_nothing_purged_before_expiry(factory) -> None:  # type: ignore[no-untyped-def]
    with transaction(factory) as session:
        result = records.purge_expired(
            session, EXPIRY - timedelta(seconds=1), "records-officer"
        )
    assert result.purged == []
    assert _names(factory) == ["Name 0", "Name 1", "Name 2"]


def test_purge_respects_legal_hold(factory) -> None:  # type: ignore[no-untyped-def]
    """Code E, Record Keeping: records under hold outlive their retention."""
    with transaction(factory) as session:
        records.place_hold(
            session, "customer", 2, "regulator inquiry", "counsel", EXPIRY
        )
    with transaction(factory) as session:
        result = records.purge_expired(
            session, EXPIRY + timedelta(days=1), "records-officer"
        )
    with factory() as session:
        consents = session.scalar(select(func.count()).select_from(Consent))
        chain = audit.verify(session)
    assert result.purged == ["A1-C000001"]
    assert result.held_skipped == ["A1-C000002"]
    assert _names(factory) == [records.PURGED_NAME, "Name 1", "Name 2"]
    assert consents == 2
    assert chain.intact


def test_released_hold_allows_purge(factory) -> None:  # type: ignore[no-untyped-def]
    with transaction(factory) as session:
        hold_id = records.place_hold(
            session, "customer", 2, "inquiry", "counsel", EXPIRY
        )
    with transaction(factory) as session:
        records.release_hold(session, hold_id, "counsel", EXPIRY + timedelta(days=1))
    with transaction(factory) as session:
        result = records.purge_expired(
            session, EXPIRY + timedelta(days=2), "records-officer"
        )
    assert result.purged == ["A1-C000001", "A1-C000002"]


def test_unknown_hold_scope_rejected(factory) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InputError, match="customer or event"):
        with transaction(factory) as session:
            records.place_hold(session, "site", 1, "x", "counsel", EXPIRY)
