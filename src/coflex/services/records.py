"""Record retention: the schedule per customer, legal holds, and the purge after expiry.

The purge covers every record kind kept under the Code (sales communications,
proposals, Key Facts and contracts, consents, notices, commands, overrides,
baselines with their inputs and method, statements, complaints): it deletes
or erases the personal ones and anonymises the customer and their sites, as
:data:`coflex.domain.administration.retention.RECORD_KINDS` lists table by
table. Contracts, device commands, overrides and settlements stay, keyed by
id only, and so does the audit log, which contains no personal data. A customer
on legal hold, or who took part in an event on hold, is never purged.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from coflex.adapters.store.models import (
    Aggregator,
    Baseline,
    Contract,
    Customer,
    Device,
    DeviceCommand,
    Notice,
    Override,
    Settlement,
    Site,
    Statement,
)
from coflex.adapters.store.models_enrollment import (
    ContractTermination,
    EnrollmentDocument,
    SalesInteraction,
)
from coflex.adapters.store.models_governance import Complaint, LegalHold
from coflex.domain.administration.policy import POLICIES
from coflex.domain.administration.retention import retain_until
from coflex.errors import InputError, NotFoundError
from coflex.services import audit, records_purge

logger = logging.getLogger(__name__)

HOLD_SCOPES = ("customer", "event")
PURGED_NAME = records_purge.PURGED_NAME


@dataclass(frozen=True)
class Retention:
    customer_id: int
    reference: str
    contract_ended_at: datetime | None
    retain_until: datetime | None
    held: bool
    purged: bool = False


def place_hold(
    session: Session, scope: str, scope_id: int, reason: str, by: str, at: datetime
) -> int:
    """Put a customer's or an event's records on legal hold; return the hold id."""
    if scope not in HOLD_SCOPES:
        raise InputError(
            f"unknown hold scope {scope!r}: use customer or event",
            value=scope,
            field="scope",
        )
    hold = LegalHold(
        scope=scope, scope_id=scope_id, reason=reason, placed_by=by, placed_at=at
    )
    session.add(hold)
    session.flush()
    audit.append(
        session,
        [
            audit.AuditRecord(
                at=at,
                action="legal_hold_placed",
                subject=f"{scope}:{scope_id}",
                details={"hold_id": hold.id},
                actor=by,
                customer_id=scope_id if scope == "customer" else None,
                event_id=scope_id if scope == "event" else None,
            )
        ],
    )
    return hold.id


def release_hold(session: Session, hold_id: int, by: str, at: datetime) -> None:
    """Release a legal hold; the records become purgeable again after expiry."""
    hold = session.get(LegalHold, hold_id)
    if hold is None:
        raise NotFoundError(f"legal hold {hold_id} not found", value=hold_id)
    hold.released_at = at
    audit.append(
        session,
        [
            audit.AuditRecord(
                at=at,
                action="legal_hold_released",
                subject=f"{hold.scope}:{hold.scope_id}",
                details={"hold_id": hold.id},
                actor=by,
            )
        ],
    )


def held_customers(session: Session, at: datetime) -> set[int]:
    """Return ids of customers whose records a hold in force at ``at`` protects."""
    holds = session.execute(
        select(LegalHold.scope, LegalHold.scope_id).where(
            LegalHold.placed_at <= at,
            (LegalHold.released_at.is_(None)) | (LegalHold.released_at > at),
        )
    ).all()
    customers = {scope_id for scope, scope_id in holds if scope == "customer"}
    events = [scope_id for scope, scope_id in holds if scope == "event"]
    if events:
        customers.update(_customers_in_events(session, events))
    return customers


def _customers_in_events(session: Session, events: list[int]) -> set[int]:
    customers: set[int] = set()
    for model in (Notice, Statement, Settlement, Complaint):
        customers.update(
            session.scalars(select(model.customer_id).where(model.event_id.in_(events)))
        )
    for model in (Baseline, Override):
        customers.update(
            session.scalars(
                select(Site.customer_id)
                .join(model, model.site_id == Site.id)
                .where(model.event_id.in_(events))
            )
        )
    customers.update(
        session.scalars(
            select(Site.customer_id)
            .join(Device, Device.site_id == Site.id)
            .join(DeviceCommand, DeviceCommand.device_id == Device.id)
            .where(DeviceCommand.event_id.in_(events))
        )
    )
    return customers


def retention_schedule(session: Session, at: datetime) -> list[Retention]:
    """Compute when each customer's records may be purged.

    Records are kept until the latest of: the jurisdiction's minimum and 6
    years, both counted from the customer's first record, and 2 years after
    their last contract ended.
    A customer with an accepted contract still running is kept. For a
    customer who never accepted a contract, the last recorded contact (a
    sales interaction or an issued document) takes the place of the end. A
    later ``retain_until`` stored when a contract was terminated wins, so
    no record goes before the date recorded then.
    """
    held = held_customers(session, at)
    running = case(
        (Contract.accepted_at.is_not(None) & Contract.terminated_at.is_(None), 1),
        else_=0,
    )
    rows = session.execute(
        select(
            Customer.id,
            Customer.reference,
            Customer.created_at,
            Customer.name,
            Aggregator.jurisdiction,
            func.max(Contract.terminated_at),
            func.count(Contract.accepted_at),
            func.coalesce(func.sum(running), 0),
        )
        .join(Aggregator, Aggregator.id == Customer.aggregator_id)
        .outerjoin(Contract, Contract.customer_id == Customer.id)
        .group_by(
            Customer.id,
            Customer.reference,
            Customer.created_at,
            Customer.name,
            Aggregator.jurisdiction,
        )
        .order_by(Customer.id)
    ).all()
    last_contact = _last_contacts(session)
    promised = _termination_dates(session)
    schedule = []
    for customer_id, ref, created, name, jurisdiction, ended, accepted, live in rows:
        if live:
            ended_at = None
        elif accepted:
            ended_at = ended
        else:
            ended_at = max(created, last_contact.get(customer_id, created))
        policy = POLICIES.get(jurisdiction)
        minimum = policy.record_min_years if policy else 0
        until = retain_until(created, ended_at, minimum)
        if until is not None and customer_id in promised:
            until = max(until, promised[customer_id])
        held_now, purged = customer_id in held, name == PURGED_NAME
        schedule.append(Retention(customer_id, ref, ended_at, until, held_now, purged))
    return schedule


def _termination_dates(session: Session) -> dict[int, datetime]:
    rows = session.execute(
        select(Contract.customer_id, func.max(ContractTermination.retain_until))
        .join(ContractTermination, ContractTermination.contract_id == Contract.id)
        .group_by(Contract.customer_id)
    )
    return {
        customer_id: datetime.combine(day, time.min, tzinfo=UTC)
        for customer_id, day in rows
        if day is not None
    }


def _last_contacts(session: Session) -> dict[int, datetime]:
    contacts: dict[int, datetime] = {}
    queries = (
        select(SalesInteraction.customer_id, func.max(SalesInteraction.at)).group_by(
            SalesInteraction.customer_id
        ),
        select(
            EnrollmentDocument.customer_id, func.max(EnrollmentDocument.issued_at)
        ).group_by(EnrollmentDocument.customer_id),
    )
    for query in queries:
        for customer_id, at in session.execute(query):
            if at is not None:
                contacts[customer_id] = max(at, contacts.get(customer_id, at))
    return contacts


@dataclass(frozen=True)
class PurgeResult:
    """The outcome of a purge: references purged and kept, and a report per customer."""

    purged: list[str]
    held_skipped: list[str]
    report: list[dict[str, Any]] = field(default_factory=list)


def purge_expired(session: Session, at: datetime, by: str) -> PurgeResult:
    """Purge the personal records of every customer whose retention ended by ``at``.

    The report has one entry per customer whose retention has ended: its
    reference, the date, whether it was purged or kept on legal hold, and
    the rows touched per table.
    """
    purged, skipped, report = [], [], []
    for item in retention_schedule(session, at):
        if item.retain_until is None or item.retain_until > at or item.purged:
            continue
        entry: dict[str, Any] = {
            "customer": item.reference,
            "contract_ended_at": audit.iso(item.contract_ended_at),
            "retain_until": audit.iso(item.retain_until),
        }
        if item.held:
            skipped.append(item.reference)
            report.append({**entry, "action": "kept_on_legal_hold", "rows": {}})
            continue
        counts = records_purge.purge_customer(session, item.customer_id, at)
        audit.append(
            session,
            [
                audit.AuditRecord(
                    at=at,
                    action="records_purged",
                    subject=f"customer:{item.customer_id}",
                    details=counts,
                    actor=by,
                    customer_id=item.customer_id,
                )
            ],
        )
        purged.append(item.reference)
        report.append({**entry, "action": "purged", "rows": counts})
    logger.info("purged %d customers, %d on hold", len(purged), len(skipped))
    return PurgeResult(purged, skipped, report)
