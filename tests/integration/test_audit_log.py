"""The hash-chained audit log on SQLite and PostgreSQL: append, verify, tamper."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from audit_tampering import allow_tampering
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from coflex.adapters.store.database import (
    migrate,
    open_engine,
    session_factory,
    transaction,
)
from coflex.services import audit

T0 = datetime(2026, 7, 21, 15, 0, tzinfo=UTC)


@pytest.fixture
def factory(database_url: str):  # type: ignore[no-untyped-def]
    engine = open_engine(database_url)
    migrate(engine)
    yield session_factory(engine)
    engine.dispose()


def _records(count: int, offset: int = 0) -> list[audit.AuditRecord]:
    return [
        audit.AuditRecord(
            at=T0 + timedelta(seconds=offset + i),
            action="command_curtail",
            subject=f"device:{i}",
            details={"value": 0.1 * i, "reason": "event_start"},
            event_id=7,
        )
        for i in range(count)
    ]


def _fill(factory, batches: int = 3, size: int = 4) -> None:  # type: ignore[no-untyped-def]
    for b in range(batches):
        with transaction(factory) as session:
            audit.append(session, _records(size, offset=b * size))


def test_chain_verifies_after_batches(factory) -> None:  # type: ignore[no-untyped-def]
    _fill(factory)
    with factory() as session:
        report = audit.verify(session)
    assert report.intact
    assert report.rows_checked == 12
    assert report.head_seq == 12


def test_empty_log_verifies(factory) -> None:  # type: ignore[no-untyped-def]
    with factory() as session:
        report = audit.verify(session)
    assert report.intact
    assert report.head_hash == audit.GENESIS_HASH


def test_update_rejected_by_database(factory) -> None:  # type: ignore[no-untyped-def]
    _fill(factory, batches=1)
    with pytest.raises(DBAPIError, match="append-only"):
        with transaction(factory) as session:
            session.execute(text("UPDATE audit_log SET actor = 'x' WHERE seq = 2"))


def test_delete_rejected_by_database(factory) -> None:  # type: ignore[no-untyped-def]
    _fill(factory, batches=1)
    with pytest.raises(DBAPIError, match="append-only"):
        with transaction(factory) as session:
            session.execute(text("DELETE FROM audit_log WHERE seq = 2"))


def test_edited_row_detected(factory) -> None:  # type: ignore[no-untyped-def]
    _fill(factory)
    with transaction(factory) as session:
        allow_tampering(session)
        session.execute(
            text("UPDATE audit_log SET subject = 'device:999' WHERE seq = 6")
        )
    with factory() as session:
        report = audit.verify(session)
    assert report.broken_seq == 6
    assert report.rows_checked == 5
    assert "changed" in (report.problem or "")


def test_deleted_row_detected(factory) -> None:  # type: ignore[no-untyped-def]
    _fill(factory)
    with transaction(factory) as session:
        allow_tampering(session)
        session.execute(text("DELETE FROM audit_log WHERE seq = 5"))
    with factory() as session:
        report = audit.verify(session)
    assert report.broken_seq == 6
    assert "missing" in (report.problem or "")


def test_rehashed_row_breaks_next_link(factory) -> None:  # type: ignore[no-untyped-def]
    """An attacker who fixes the edited row's own hash still breaks the next row."""
    _fill(factory)
    with factory() as session:
        row = session.get(audit.AuditEntry, 4)
        fields = audit._fields(4, row)
    fields["subject"] = "device:999"
    forged = audit.chain_hash(row.prev_hash, fields)
    with transaction(factory) as session:
        allow_tampering(session)
        session.execute(
            text(
                "UPDATE audit_log SET subject = 'device:999', row_hash = :h "
                "WHERE seq = 4"
            ),
            {"h": forged},
        )
    with factory() as session:
        report = audit.verify(session)
    assert report.broken_seq == 5
