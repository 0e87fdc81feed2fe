"""The complaint workflow on a controlled clock, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from coflex.adapters.store.database import (
    migrate,
    open_engine,
    session_factory,
    transaction,
)
from coflex.adapters.store.models import Aggregator, Customer
from coflex.adapters.store.models_governance import AuditEntry
from coflex.errors import NotFoundError, RuleViolation
from coflex.services import audit, complaints

ET = ZoneInfo("America/New_York")
FRIDAY = datetime(2026, 7, 17, 10, 0, tzinfo=ET)


@pytest.fixture
def factory(database_url: str):  # type: ignore[no-untyped-def]
    engine = open_engine(database_url)
    migrate(engine)
    factory = session_factory(engine)
    with transaction(factory) as session:
        aggregator = Aggregator(
            name="Piedmont Flex",
            jurisdiction="US-NC",
            registration_number="NC-1",
            registered_at=FRIDAY - timedelta(days=400),
        )
        session.add(aggregator)
        session.flush()
        session.add(
            Customer(
                aggregator_id=aggregator.id,
                reference="A1-C000001",
                name="Ada Moss",
                email=None,
                phone=None,
                preferred_channel="sms",
                created_at=FRIDAY - timedelta(days=100),
            )
        )
    yield factory
    engine.dispose()


def _log(factory, at: datetime = FRIDAY, **changes: object):  # type: ignore[no-untyped-def]
    intake = complaints.Intake(
        customer_ref=str(changes.get("customer_ref", "A1-C000001")),
        category=str(changes.get("category", "override")),
        summary="The thermostat ignored my override on Tuesday.",
        channel="phone",
        logged_by="agent-7",
        received_at=at,
        event_id=changes.get("event_id"),  # type: ignore[arg-type]
    )
    with transaction(factory) as session:
        return complaints.log_complaint(session, intake)


def test_phone_complaint_gets_deadlines(factory) -> None:  # type: ignore[no-untyped-def]
    complaint = _log(factory)
    assert complaint.reference == "CMP-000001"
    assert complaint.acknowledge_by == datetime(2026, 7, 22, tzinfo=ET)
    assert complaint.escalation_from == FRIDAY + timedelta(weeks=8)


def test_unknown_event_rejected(factory) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(NotFoundError, match="event 999 not found"):
        _log(factory, event_id=999)


def test_unknown_customer_rejected(factory) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(NotFoundError, match="A1-C999999"):
        _log(factory, customer_ref="A1-C999999")


def test_reminder_day_before_acknowledgement(factory) -> None:  # type: ignore[no-untyped-def]
    _log(factory)
    monday_noon = datetime(2026, 7, 20, 12, 0, tzinfo=ET)
    tuesday_noon = monday_noon + timedelta(days=1)
    with transaction(factory) as session:
        early = complaints.send_reminders(session, monday_noon)
    with transaction(factory) as session:
        due = complaints.send_reminders(session, tuesday_noon)
    with transaction(factory) as session:
        again = complaints.send_reminders(session, tuesday_noon + timedelta(hours=1))
    assert early == []
    assert [r.deadline for r in due] == ["acknowledge"]
    assert again == []


def test_escalation_refused_before_eight_weeks(factory) -> None:  # type: ignore[no-untyped-def]
    _log(factory)
    with pytest.raises(RuleViolation, match="deadlock"):
        with transaction(factory) as session:
            complaints.escalate(session, "CMP-000001", FRIDAY + timedelta(weeks=7))


def test_escalation_allowed_after_eight_weeks(factory) -> None:  # type: ignore[no-untyped-def]
    _log(factory)
    with transaction(factory) as session:
        complaint = complaints.escalate(
            session, "CMP-000001", FRIDAY + timedelta(weeks=8)
        )
    assert complaint.status == "escalated"


def test_deadlock_letter_allows_escalation(factory) -> None:  # type: ignore[no-untyped-def]
    _log(factory)
    at = FRIDAY + timedelta(days=10)
    with transaction(factory) as session:
        closed = complaints.declare_deadlock(
            session, "CMP-000001", "We cannot agree.", at
        )
    with transaction(factory) as session:
        escalated = complaints.escalate(session, "CMP-000001", at + timedelta(hours=1))
    assert "North Carolina Utilities Commission" in (closed.final_letter or "")
    assert escalated.escalated_at is not None


def test_report_counts_and_times(factory) -> None:  # type: ignore[no-untyped-def]
    _log(factory)
    _log(factory, category="privacy")
    with transaction(factory) as session:
        complaints.acknowledge(session, "CMP-000001", FRIDAY + timedelta(days=1))
        complaints.resolve(
            session,
            "CMP-000001",
            "upheld",
            "We fixed the thermostat link.",
            FRIDAY + timedelta(days=5),
        )
    with factory() as session:
        figures = complaints.report(
            session, FRIDAY - timedelta(days=1), FRIDAY + timedelta(days=1)
        )
    assert figures["received"] == 2
    assert figures["by_category"] == {"override": 1, "privacy": 1}
    assert figures["by_outcome"] == {"upheld": 1}
    assert figures["acknowledged_in_time"] == 1
    assert figures["median_days_to_close"] == pytest.approx(5.0)


def test_every_step_audited(factory) -> None:  # type: ignore[no-untyped-def]
    _log(factory)
    with transaction(factory) as session:
        complaints.acknowledge(session, "CMP-000001", FRIDAY + timedelta(days=1))
    with factory() as session:
        actions = session.scalars(
            select(AuditEntry.action).order_by(AuditEntry.seq)
        ).all()
        report = audit.verify(session)
    assert actions == ["complaint_received", "complaint_acknowledged"]
    assert report.intact


def test_consent_ledger_grant_and_revoke(factory) -> None:  # type: ignore[no-untyped-def]
    from coflex.services import privacy

    grant = privacy.Grant(
        "A1-C000001",
        "sharing_utility_iso",
        "event results",
        "web",
        FRIDAY,
        recipient="Duke Energy Carolinas",
    )
    with transaction(factory) as session:
        privacy.grant_consent(session, grant)
    with transaction(factory) as session:
        revoked = privacy.revoke_consent(
            session, "A1-C000001", "sharing_utility_iso", FRIDAY + timedelta(days=1)
        )
    with factory() as session:
        rows = privacy.ledger(session, "A1-C000001")
        chain = audit.verify(session)
    assert len(revoked) == 1
    assert rows[0].revoked_at is not None
    assert rows[0].recipient == "Duke Energy Carolinas"
    assert chain.rows_checked == 2


def test_consent_undefined_purpose_rejected(factory) -> None:  # type: ignore[no-untyped-def]
    from coflex.errors import InputError
    from coflex.services import privacy

    grant = privacy.Grant("A1-C000001", "advertising", "x", "web", FRIDAY)
    with pytest.raises(InputError, match="undefined consent purpose"):
        with transaction(factory) as session:
            privacy.grant_consent(session, grant)
