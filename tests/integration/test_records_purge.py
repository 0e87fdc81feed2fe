"""The purge over every record kind, on SQLite and PostgreSQL.

Code of Conduct, section E (Record Keeping): "Aggregators must keep a record,
for a minimum number of years from any sales activity, of the written
information provided to a customer during a sales visit". coflex keeps the
other records its provisions produce (proposals, Key Facts and contracts,
consents, notices, commands, overrides, baselines, statements, complaints)
for the same period, and purges none of them while a legal hold applies.
"""

from __future__ import annotations

import zlib
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
    Base,
    Baseline,
    Consent,
    Contract,
    Customer,
    Device,
    DeviceCommand,
    Event,
    FlexibilityRequest,
    MeterDay,
    Notice,
    Override,
    Program,
    Site,
    Statement,
)
from coflex.adapters.store.models_enrollment import (
    ContactFlag,
    DualEnrollmentFlag,
    OtherEnrollmentDeclaration,
    SiteServicePoint,
    ContractAcceptance,
    ContractTermination,
    EnrollmentDocument,
    SalesInteraction,
    SalesRepresentative,
)
from coflex.adapters.store.models_governance import (
    Complaint,
    ComplaintReminder,
    PrivacyRequest,
)
from coflex.adapters.store.models_operations import AutomationDocument
from coflex.adapters.store.models_web import Account, ApiToken, BrowserSession
from coflex.domain.administration.retention import RECORD_KINDS
from coflex.domain.programs import ProgramTerms
from coflex.services import audit, records

CREATED = datetime(2020, 3, 1, tzinfo=UTC)
# Ended late: 2 years after the end (2027-06-01) is later than 6 years after
# the first record (2026-03-01), so the contract-term rule decides.
LATE_END = datetime(2025, 6, 1, tzinfo=UTC)
LATE_EXPIRY = datetime(2027, 6, 1, tzinfo=UTC)
EARLY_END = datetime(2021, 3, 1, tzinfo=UTC)
EARLY_EXPIRY = datetime(2026, 3, 1, tzinfo=UTC)


def _program(session) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    aggregator = Aggregator(
        name="a", jurisdiction="US-NC", registration_number="r", registered_at=CREATED
    )
    session.add(aggregator)
    session.flush()
    terms = ProgramTerms()
    program = Program(
        aggregator_id=aggregator.id,
        name="p",
        event_class="reliability",
        terms=terms.to_json(),
        terms_hash=terms.parameters_hash(),
        season_start=date(2020, 5, 1),
        season_end=date(2020, 10, 31),
        created_at=CREATED,
    )
    session.add(program)
    session.flush()
    return aggregator.id, program.id


def _customer(session, aggregator_id: int, number: int) -> Customer:  # type: ignore[no-untyped-def]
    customer = Customer(
        aggregator_id=aggregator_id,
        reference=f"A1-C{number:06d}",
        name=f"Name {number}",
        email=f"c{number}@example.org",
        phone="+1-336-555-0100",
        preferred_channel="sms",
        created_at=CREATED,
    )
    session.add(customer)
    session.flush()
    return customer


def _contract(session, customer_id: int, program_id: int, ended: datetime | None) -> Contract:  # type: ignore[no-untyped-def]
    terms = ProgramTerms()
    contract = Contract(
        customer_id=customer_id,
        program_id=program_id,
        status="terminated" if ended else "active",
        accepted_at=CREATED,
        cooling_off_ends_at=CREATED + timedelta(days=14),
        activated_at=CREATED + timedelta(days=14),
        terminated_at=ended,
        terms=terms.to_json(),
        terms_hash=terms.parameters_hash(),
    )
    session.add(contract)
    session.flush()
    return contract


def _event(session, program_id: int) -> Event:  # type: ignore[no-untyped-def]
    start = datetime(2020, 7, 21, 19, tzinfo=UTC)
    request = FlexibilityRequest(
        requester="utility",
        received_at=start - timedelta(days=1),
        start=start,
        end=start + timedelta(hours=3),
        target_kw=10.0,
        event_class="reliability",
    )
    session.add(request)
    session.flush()
    event = Event(
        request_id=request.id,
        program_id=program_id,
        status="settled",
        start=start,
        end=start + timedelta(hours=3),
        target_kw=10.0,
        created_at=start - timedelta(days=1),
    )
    session.add(event)
    session.flush()
    return event


def _site(session, customer_id: int) -> tuple[Site, Device]:  # type: ignore[no-untyped-def]
    site = Site(
        customer_id=customer_id,
        latitude=36.0726,
        longitude=-79.7920,
        timezone="America/New_York",
        medical_equipment=False,
        vulnerable_occupants=False,
        base_load_day_offset=0,
        base_load_scale=1.0,
    )
    session.add(site)
    session.flush()
    device = Device(site_id=site.id, kind="hvac", model_index=0, parameters={})
    session.add(device)
    session.flush()
    return site, device


def _personal_records(session, customer: Customer, contract: Contract, event: Event) -> None:  # type: ignore[no-untyped-def]
    """Store one row of every record kind for ``customer``."""
    at = event.start
    site, device = _site(session, customer.id)
    representative = SalesRepresentative(
        name="Rep", employer="aggregator", third_party=False, created_at=CREATED
    )
    session.add(representative)
    session.flush()
    document = EnrollmentDocument(
        customer_id=customer.id,
        contract_id=contract.id,
        kind="key_facts",
        content_hash="a" * 64,
        parameters_hash="b" * 64,
        issued_at=CREATED,
        body_zlib=zlib.compress(f"<p>{customer.name}, 1 Main St</p>".encode()),
        details={"address": "1 Main St"},
    )
    account = Account(
        username=f"c{customer.id}@example.org",
        role="customer",
        display_name=customer.name,
        password_hash="argon2-hash",
        customer_id=customer.id,
        created_at=CREATED,
    )
    complaint = Complaint(
        reference=f"CMP-{customer.id}",
        customer_id=customer.id,
        jurisdiction="US-NC",
        category="payment",
        channel="phone",
        logged_by="agent",
        summary="late payment",
        received_at=at,
        acknowledge_by=at,
        respond_by=at,
        escalation_from=at,
        status="resolved",
        event_id=event.id,
    )
    session.add_all([document, account, complaint])
    session.flush()
    if contract.terminated_at is not None:
        session.add(
            ContractTermination(
                contract_id=contract.id,
                terminated_at=contract.terminated_at,
                requested_by=customer.name,
                reason="moving house",
                exit_fee=0.0,
                devices_released_at=contract.terminated_at,
                final_statement_id=document.id,
                retain_until=contract.terminated_at.date(),
            )
        )
    session.add_all(
        [
            PrivacyRequest(
                customer_id=customer.id,
                kind="export",
                received_at=CREATED,
                completed_at=CREATED,
                outcome="exported",
            ),
            ComplaintReminder(
                complaint_id=complaint.id,
                deadline="respond",
                due_at=at,
                sent_at=at,
            ),
            SalesInteraction(
                representative_id=representative.id,
                customer_id=customer.id,
                channel="door",
                at=CREATED - timedelta(days=3),
                told="pitch",
                answered="questions about bills",
                sale=True,
            ),
            ContactFlag(customer_id=customer.id, set_at=CREATED, reason="asked"),
            SiteServicePoint(
                site_id=site.id, service_point_id="SP-1001", recorded_at=CREATED
            ),
            OtherEnrollmentDeclaration(
                site_id=site.id,
                provider="GridCo",
                service="demand_response",
                program="Summer Saver",
                declared_at=CREATED,
                declared_by=customer.name,
            ),
            DualEnrollmentFlag(
                site_id=site.id,
                program_id=contract.program_id,
                source="declaration",
                other_provider="GridCo",
                detail="declared by the customer",
                flagged_at=CREATED,
            ),
            ContractAcceptance(
                contract_id=contract.id,
                accepted_by=customer.name,
                accepted_at=CREATED,
                channel="web",
                ip_address="192.0.2.10",
                user_agent="Firefox",
                document_hashes={"key_facts": "a" * 64},
                cooling_off_rule="14 days",
            ),
            Consent(
                customer_id=customer.id,
                purpose="measurement",
                scope="meter data",
                channel="web",
                granted_at=CREATED,
            ),
            Notice(
                event_id=event.id,
                customer_id=customer.id,
                kind="pre_event",
                channel="sms",
                body=f"Hello {customer.name}",
                created_at=at,
                status="delivered",
            ),
            DeviceCommand(
                event_id=event.id,
                device_id=device.id,
                action="curtail",
                value=0.5,
                reason="event_start",
                issued_at=at,
            ),
            Override(
                event_id=event.id,
                site_id=site.id,
                channel="app",
                requested_at=at,
                honoured_at=at,
                penalty=0.0,
            ),
            Baseline(
                event_id=event.id,
                site_id=site.id,
                method="high_5_of_10",
                parameters={},
                days_used=[],
                adjustment=1.0,
                baseline_kwh=b"",
                actual_kwh=b"",
                delivered_kwh=1.0,
                status="ok",
                findings=[],
            ),
            MeterDay(
                site_id=site.id,
                day=date(2020, 7, 21),
                interval_s=900,
                energy_kwh=b"\x00" * 4,
                source="ami",
            ),
            Statement(
                event_id=event.id,
                customer_id=customer.id,
                issued_at=at,
                html=customer.name,
                content_hash="c" * 64,
            ),
            AutomationDocument(
                customer_id=customer.id,
                issued_at=CREATED,
                terms_hash="d" * 64,
                content_hash="e" * 64,
                html=customer.name,
            ),
            BrowserSession(
                token_sha256="f" * 63 + str(customer.id),
                account_id=account.id,
                csrf_token="x",
                created_at=CREATED,
                expires_at=CREATED + timedelta(days=1),
            ),
            ApiToken(
                token_sha256="9" * 63 + str(customer.id),
                account_id=account.id,
                name="app",
                created_at=CREATED,
                expires_at=CREATED + timedelta(days=30),
            ),
        ]
    )


@pytest.fixture
def factory(database_url: str):  # type: ignore[no-untyped-def]
    """Customer 1 ended early, 2 ended late, 3 never signed, 4 still runs."""
    engine = open_engine(database_url)
    migrate(engine)
    factory = session_factory(engine)
    with transaction(factory) as session:
        aggregator_id, program_id = _program(session)
        event = _event(session, program_id)
        for number, ended in ((1, EARLY_END), (2, LATE_END), (3, None), (4, None)):
            customer = _customer(session, aggregator_id, number)
            if number == 3:
                continue
            contract = _contract(session, customer.id, program_id, ended)
            _personal_records(session, customer, contract, event)
    yield factory
    engine.dispose()


def _purge(factory, at: datetime) -> records.PurgeResult:  # type: ignore[no-untyped-def]
    with transaction(factory) as session:
        return records.purge_expired(session, at, "records-officer")


def _count(factory, model, **where) -> int:  # type: ignore[no-untyped-def]
    with factory() as session:
        query = select(func.count()).select_from(model)
        for column, value in where.items():
            query = query.where(getattr(model, column) == value)
        return int(session.scalar(query) or 0)


def test_schedule_applies_contract_term_rule(factory) -> None:  # type: ignore[no-untyped-def]
    """Contract end plus 2 years wins when it is later than 6 years."""
    with factory() as session:
        schedule = {
            item.reference: item.retain_until
            for item in records.retention_schedule(session, EARLY_EXPIRY)
        }
    assert schedule["A1-C000001"] == EARLY_EXPIRY
    assert schedule["A1-C000002"] == LATE_EXPIRY
    assert schedule["A1-C000003"] == EARLY_EXPIRY
    assert schedule["A1-C000004"] is None


def test_purge_waits_for_contract_term(factory) -> None:  # type: ignore[no-untyped-def]
    first = _purge(factory, LATE_EXPIRY - timedelta(days=1))
    assert first.purged == ["A1-C000001", "A1-C000003"]
    assert _count(factory, Notice, customer_id=2) == 1
    second = _purge(factory, LATE_EXPIRY)
    assert second.purged == ["A1-C000002"]
    assert _count(factory, Notice, customer_id=2) == 0
    assert _count(factory, Notice, customer_id=4) == 1


def test_purge_covers_every_record_kind(factory) -> None:  # type: ignore[no-untyped-def]
    result = _purge(factory, EARLY_EXPIRY)
    rows = next(e["rows"] for e in result.report if e["customer"] == "A1-C000001")
    for _, table, action in RECORD_KINDS:
        if action != "keep" and table != "customers":
            assert rows.get(table, 0) >= 1, f"purge did not touch {table}"
    with factory() as session:
        document = session.scalars(
            select(EnrollmentDocument).where(EnrollmentDocument.customer_id == 1)
        ).one()
        acceptance = session.scalars(
            select(ContractAcceptance).where(ContractAcceptance.contract_id == 1)
        ).one()
        account = session.scalars(select(Account).where(Account.customer_id == 1)).one()
        chain = audit.verify(session)
    assert zlib.decompress(document.body_zlib) == b""
    assert document.content_hash == "a" * 64
    assert acceptance.ip_address is None
    assert acceptance.accepted_by == records.PURGED_NAME
    assert account.username == f"purged-{account.id}"
    assert account.password_hash is None
    assert _count(factory, DeviceCommand) == 3
    assert _count(factory, Override) == 3
    assert _count(factory, SalesInteraction, customer_id=1) == 0
    assert _count(factory, SalesInteraction, customer_id=2) == 1
    assert chain.intact


def test_every_customer_table_scheduled() -> None:
    """A table keyed to a customer or site must state what the purge does to it."""
    scheduled = {table for _, table, _ in RECORD_KINDS}
    personal = {
        table.name
        for table in Base.metadata.sorted_tables
        if {"customer_id", "site_id"} & set(table.columns.keys())
    }
    assert personal - scheduled == set()


def test_event_hold_keeps_participants(factory) -> None:  # type: ignore[no-untyped-def]
    """Records of an event under legal hold outlive their retention."""
    with transaction(factory) as session:
        records.place_hold(session, "event", 1, "dispute", "counsel", EARLY_EXPIRY)
    result = _purge(factory, LATE_EXPIRY)
    assert result.purged == ["A1-C000003"]
    assert result.held_skipped == ["A1-C000001", "A1-C000002"]
    kept = [e for e in result.report if e["action"] == "kept_on_legal_hold"]
    assert [e["customer"] for e in kept] == ["A1-C000001", "A1-C000002"]
    assert _count(factory, Baseline) == 3
    with factory() as session:
        # Names are encrypted at rest, so the check reads the row, not a filter.
        assert session.get(Customer, 1).name == "Name 1"


def test_override_alone_triggers_event_hold(factory) -> None:  # type: ignore[no-untyped-def]
    with transaction(factory) as session:
        session.query(ComplaintReminder).delete()
        for model in (Notice, Statement, Baseline, Complaint):
            session.query(model).filter(model.event_id == 1).delete()
        held = records.held_customers(session, EARLY_EXPIRY)
        records.place_hold(session, "event", 1, "dispute", "counsel", EARLY_EXPIRY)
        held_now = records.held_customers(session, EARLY_EXPIRY)
    assert held == set()
    assert held_now == {1, 2, 4}


def test_recorded_retention_date_kept(factory) -> None:  # type: ignore[no-untyped-def]
    """A later date stored at termination is never purged before."""
    recorded = date(2027, 1, 1)
    with transaction(factory) as session:
        termination = session.scalars(
            select(ContractTermination).where(ContractTermination.contract_id == 1)
        ).one()
        termination.retain_until = recorded
    with factory() as session:
        schedule = records.retention_schedule(session, EARLY_EXPIRY)
    assert schedule[0].retain_until == datetime(2027, 1, 1, tzinfo=UTC)
    assert _purge(factory, EARLY_EXPIRY).purged == ["A1-C000003"]
    assert _purge(factory, datetime(2027, 1, 1, tzinfo=UTC)).purged == ["A1-C000001"]
