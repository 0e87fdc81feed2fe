"""The store on SQLite and PostgreSQL: migrations, transactions, meter days."""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import pytest
from sqlalchemy import func, inspect, select

from coflex.adapters.store.database import (
    migrate,
    open_engine,
    session_factory,
    transaction,
)
from coflex.adapters.store.meter import load_cube, store_meter_days
from coflex.adapters.store.models import Aggregator, Customer, MeterDay, Site
from coflex.errors import StoreError

TZ = "America/New_York"


@pytest.fixture
def store(database_url: str):  # type: ignore[no-untyped-def]
    engine = open_engine(database_url)
    migrate(engine)
    yield engine, session_factory(engine)
    engine.dispose()


def _sites(factory, count: int) -> np.ndarray:  # type: ignore[no-untyped-def]
    with transaction(factory) as session:
        aggregator = Aggregator(
            name="a",
            jurisdiction="US-NC",
            registration_number="r",
            registered_at=datetime(2026, 1, 1, tzinfo=UTC),
        )
        session.add(aggregator)
        session.flush()
        ids = []
        for i in range(count):
            customer = Customer(
                aggregator_id=aggregator.id,
                reference=f"C{i}",
                name="n",
                email=None,
                phone=None,
                preferred_channel="sms",
                created_at=datetime(2026, 1, 1, tzinfo=UTC),
            )
            session.add(customer)
            session.flush()
            site = Site(
                customer_id=customer.id,
                latitude=36.1,
                longitude=-79.9,
                timezone=TZ,
                medical_equipment=False,
                vulnerable_occupants=False,
                base_load_day_offset=0,
                base_load_scale=1.0,
            )
            session.add(site)
            session.flush()
            ids.append(site.id)
    return np.array(ids, dtype=np.int64)


def test_migration_creates_tables(store) -> None:  # type: ignore[no-untyped-def]
    engine, _ = store
    tables = set(inspect(engine).get_table_names())
    assert {
        "customers",
        "contracts",
        "consents",
        "events",
        "notices",
        "statements",
    } <= tables
    migrate(engine)  # a second run is a no-op


def test_failed_step_stores_nothing(store) -> None:  # type: ignore[no-untyped-def]
    _, factory = store
    with pytest.raises(RuntimeError):
        with transaction(factory) as session:
            session.add(
                Aggregator(
                    name="x",
                    jurisdiction="US-NC",
                    registration_number="1",
                    registered_at=datetime(2026, 1, 1, tzinfo=UTC),
                )
            )
            session.flush()
            raise RuntimeError("step failed half way")
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(Aggregator)) == 0


def test_timestamps_read_back_aware(store) -> None:  # type: ignore[no-untyped-def]
    _, factory = store
    _sites(factory, 1)
    with factory() as session:
        aggregator = session.scalars(select(Aggregator)).one()
    assert aggregator.registered_at.tzinfo is not None
    assert aggregator.registered_at == datetime(2026, 1, 1, tzinfo=UTC)


def test_naive_timestamp_rejected(store) -> None:  # type: ignore[no-untyped-def]
    _, factory = store
    with pytest.raises(Exception, match="naive datetime"):
        with transaction(factory) as session:
            session.add(
                Aggregator(
                    name="x",
                    jurisdiction="US-NC",
                    registration_number="1",
                    registered_at=datetime(2026, 1, 1),
                )
            )
            session.flush()


def test_meter_days_round_trip_dst(store) -> None:  # type: ignore[no-untyped-def]
    """Days around the 2026-11-01 fall-back keep every metered kWh."""
    _, factory = store
    site_ids = _sites(factory, 2)
    first = date(2026, 10, 31)
    # 24 h + 25 h + 24 h of quarter hours from local midnight on 31 October.
    intervals = 96 + 100 + 96
    energy = np.tile(np.arange(intervals, dtype=np.float64) % 7 * 0.1 + 0.2, (2, 1))
    with transaction(factory) as session:
        written = store_meter_days(session, site_ids, energy, first, TZ)
    assert written == 6
    with factory() as session:
        lengths = sorted(
            {len(row) // 4 for row in session.scalars(select(MeterDay.energy_kwh))}
        )
        result = load_cube(session, site_ids, first, 3, TZ)
    assert lengths == [96, 100]
    day_totals = np.nansum(result.cube_kwh, axis=2)
    assert day_totals[0, 1] == pytest.approx(energy[0, 96:196].sum(), rel=1e-5)
    assert not result.gap_day.any()


def test_unreachable_database_one_line() -> None:
    with pytest.raises(StoreError) as caught:
        open_engine("postgresql://postgres@127.0.0.1:1/nothing")
    message = caught.value.message
    assert "cannot reach the database" in message
    assert "--database" in message
    assert "\n" not in message


def test_malformed_url_rejected() -> None:
    with pytest.raises(StoreError, match="invalid database URL"):
        open_engine("not a url")


def test_migrations_match_models(store) -> None:  # type: ignore[no-untyped-def]
    """The newest migration creates exactly the tables the models declare."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from coflex.adapters.store.models import Base

    engine, _ = store
    with engine.connect() as connection:
        context = MigrationContext.configure(connection)
        differences = compare_metadata(context, Base.metadata)
    assert differences == []
