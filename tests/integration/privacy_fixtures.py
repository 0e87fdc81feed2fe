"""A small store for the privacy tests: one customer with a site, meter data,
a contract, a finished event with notice, settlement and statement, and a
second customer for the ownership checks."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from coflex.adapters.store.database import (
    migrate,
    open_engine,
    session_factory,
    transaction,
)
from coflex.adapters.store.meter import store_meter_days
from coflex.adapters.store.models import (
    Aggregator,
    Consent,
    Contract,
    Customer,
    Device,
    Event,
    FlexibilityRequest,
    Notice,
    Participation,
    Program,
    Settlement,
    Site,
    Statement,
)
from coflex.domain.programs import ProgramTerms
from coflex.services.accounts import Role, create_account

ACCEPTED = datetime(2020, 3, 1, tzinfo=UTC)
ENDED = datetime(2021, 3, 1, tzinfo=UTC)
# Retention of a contract accepted on ACCEPTED ends six years later.
AFTER_RETENTION = datetime(2026, 6, 1, tzinfo=UTC)
WITHIN_RETENTION = datetime(2024, 6, 1, tzinfo=UTC)
FIRST_DAY = date(2020, 7, 1)
NAME = "Ada Quintero-Lovelace"
EMAIL = "ada.quintero@example.org"
PHONE = "+1-336-555-0142"
ADDRESS = "12 Elm Street, Greensboro NC 27401"
PASSWORD = "correct horse battery staple"


def _program(session: Session) -> Program:
    terms = ProgramTerms()
    aggregator = Aggregator(
        name="Aggregator",
        jurisdiction="US-NC",
        registration_number="r-1",
        registered_at=ACCEPTED,
    )
    session.add(aggregator)
    session.flush()
    program = Program(
        aggregator_id=aggregator.id,
        name="Summer",
        event_class="reliability",
        terms=terms.to_json(),
        terms_hash=terms.parameters_hash(),
        season_start=date(2020, 5, 1),
        season_end=date(2020, 10, 31),
        created_at=ACCEPTED,
    )
    session.add(program)
    session.flush()
    return program


def _customer(session: Session, program: Program, ended: datetime | None) -> Customer:
    customer = Customer(
        aggregator_id=program.aggregator_id,
        reference="A1-C000001",
        name=NAME,
        email=EMAIL,
        phone=PHONE,
        postal_address=ADDRESS,
        preferred_channel="email",
        created_at=ACCEPTED,
    )
    session.add(customer)
    session.flush()
    terms = ProgramTerms()
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
        )
    )
    create_account(
        session,
        "ada",
        Role.CUSTOMER,
        NAME,
        PASSWORD,
        now=ACCEPTED,
        customer_id=customer.id,
    )
    return customer


def _site_and_event(session: Session, customer: Customer, program: Program) -> Event:
    site = Site(
        customer_id=customer.id,
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
    # Two local days of quarter-hour energy with distinct values [kWh].
    energy = (np.arange(192, dtype=np.float64) % 17 + 1) * 0.0125
    store_meter_days(
        session, np.array([site.id]), energy[None, :], FIRST_DAY, site.timezone
    )
    start = datetime(2020, 7, 1, 19, tzinfo=UTC)
    request = FlexibilityRequest(
        requester="utility",
        received_at=start - timedelta(days=1),
        start=start,
        end=start + timedelta(hours=2),
        target_kw=1.0,
        event_class="reliability",
    )
    session.add(request)
    session.flush()
    event = Event(
        request_id=request.id,
        program_id=program.id,
        status="completed",
        start=start,
        end=start + timedelta(hours=2),
        target_kw=1.0,
        created_at=start - timedelta(days=1),
    )
    session.add(event)
    session.flush()
    session.add(
        Participation(
            event_id=event.id,
            site_id=site.id,
            device_id=device.id,
            role="planned",
            predicted_flex_kw=1.0,
            planned_fraction=1.0,
        )
    )
    session.add(
        Notice(
            event_id=event.id,
            customer_id=customer.id,
            kind="advance",
            channel="email",
            body=f"Dear {NAME}, an event runs tomorrow.",
            created_at=start - timedelta(days=1),
            status="delivered",
        )
    )
    session.add(
        Settlement(
            event_id=event.id,
            site_id=site.id,
            customer_id=customer.id,
            delivered_kwh=1.5,
            payment=0.75,
            currency="USD",
            shares={},
        )
    )
    session.add(
        Statement(
            event_id=event.id,
            customer_id=customer.id,
            issued_at=start + timedelta(days=1),
            html=f"<p>Statement for {NAME}</p>",
            content_hash="0" * 64,
        )
    )
    return event


def build_store(
    database_url: str, ended: datetime | None
) -> Iterator[sessionmaker[Session]]:
    engine = open_engine(database_url)
    migrate(engine)
    factory = session_factory(engine)
    with transaction(factory) as session:
        program = _program(session)
        customer = _customer(session, program, ended)
        _site_and_event(session, customer, program)
        other = Customer(
            aggregator_id=program.aggregator_id,
            reference="A1-C000002",
            name="Other Customer",
            email="other@example.org",
            preferred_channel="sms",
            created_at=ACCEPTED,
        )
        session.add(other)
    yield factory
    engine.dispose()


def customer_row(session: Session) -> Customer:
    """Return the first customer, the one with data."""
    customer = session.scalar(
        select(Customer).where(Customer.reference == "A1-C000001")
    )
    assert customer is not None
    return customer
