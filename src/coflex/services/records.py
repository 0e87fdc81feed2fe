"""Record retention: the schedule per customer, legal holds, and the purge after expiry.

The purge deletes a customer's personal records (notices, statements, meter
data, baselines, consents, complaints, privacy requests) and anonymises the
customer and their sites. Contracts, device commands, overrides and
settlements stay, keyed by id only, and so does the audit log, which holds no
personal data. A customer on legal hold, or who took part in an event on hold,
is never purged.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from coflex.adapters.store.models import (
    Aggregator,
    Baseline,
    Consent,
    Contract,
    Customer,
    MeterDay,
    Notice,
    Site,
    Statement,
)
from coflex.adapters.store.models_governance import (
    Complaint,
    ComplaintReminder,
    LegalHold,
    PrivacyRequest,
)
from coflex.domain.administration.policy import POLICIES
from coflex.domain.administration.retention import retain_until
from coflex.errors import InputError, NotFoundError
from coflex.services import audit

logger = logging.getLogger(__name__)

HOLD_SCOPES = ("customer", "event")
PURGED_NAME = "(purged)"


@dataclass(frozen=True)
class Retention:
    customer_id: int
    reference: str
    contract_ended_at: datetime | None
    retain_until: datetime | None
    held: bool


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
        for model in (Notice, Statement):
            customers.update(
                session.scalars(
                    select(model.customer_id).where(model.event_id.in_(events))
                )
            )
        customers.update(
            session.scalars(
                select(Site.customer_id)
                .join(Baseline, Baseline.site_id == Site.id)
                .where(Baseline.event_id.in_(events))
            )
        )
    return customers


def retention_schedule(session: Session, at: datetime) -> list[Retention]:
    """Compute when each customer's records may be purged."""
    held = held_customers(session, at)
    rows = session.execute(
        select(
            Customer.id,
            Customer.reference,
            Aggregator.jurisdiction,
            func.min(Contract.accepted_at),
            func.max(Contract.terminated_at),
            func.count(Contract.id),
            func.count(Contract.terminated_at),
        )
        .join(Aggregator, Aggregator.id == Customer.aggregator_id)
        .outerjoin(Contract, Contract.customer_id == Customer.id)
        .group_by(Customer.id, Customer.reference, Aggregator.jurisdiction)
        .order_by(Customer.id)
    ).all()
    schedule = []
    for customer_id, ref, jurisdiction, first, ended, contracts, terminated in rows:
        # A customer with a contract still running has no end yet.
        ended_at = ended if contracts and contracts == terminated else None
        policy = POLICIES.get(jurisdiction)
        minimum = policy.record_min_years if policy else 0
        until = retain_until(first, ended_at, minimum) if first else None
        schedule.append(
            Retention(customer_id, ref, ended_at, until, customer_id in held)
        )
    return schedule


@dataclass(frozen=True)
class PurgeResult:
    purged: list[str]
    held_skipped: list[str]


def purge_expired(session: Session, at: datetime, by: str) -> PurgeResult:
    """Purge the personal records of every customer whose retention ended by ``at``."""
    purged, skipped = [], []
    for item in retention_schedule(session, at):
        if item.retain_until is None or item.retain_until > at:
            continue
        if item.held:
            skipped.append(item.reference)
            continue
        counts = purge_customer_records(session, item.customer_id)
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
    logger.info("purged %d customers, %d on hold", len(purged), len(skipped))
    return PurgeResult(purged, skipped)


def purge_customer_records(session: Session, customer_id: int) -> dict[str, int]:
    """Delete the customer's personal records and anonymise the rest; count rows."""
    sites = select(Site.id).where(Site.customer_id == customer_id)
    complaints = select(Complaint.id).where(Complaint.customer_id == customer_id)
    counts: dict[str, int] = {}
    steps = [
        (
            "complaint_reminders",
            delete(ComplaintReminder).where(
                ComplaintReminder.complaint_id.in_(complaints)
            ),
        ),
        ("complaints", delete(Complaint).where(Complaint.customer_id == customer_id)),
        ("notices", delete(Notice).where(Notice.customer_id == customer_id)),
        ("statements", delete(Statement).where(Statement.customer_id == customer_id)),
        ("baselines", delete(Baseline).where(Baseline.site_id.in_(sites))),
        ("meter_days", delete(MeterDay).where(MeterDay.site_id.in_(sites))),
        ("consents", delete(Consent).where(Consent.customer_id == customer_id)),
        (
            "privacy_requests",
            delete(PrivacyRequest).where(PrivacyRequest.customer_id == customer_id),
        ),
    ]
    for name, statement in steps:
        counts[name] = int(session.execute(statement).rowcount or 0)
    session.execute(
        update(Customer)
        .where(Customer.id == customer_id)
        .values(
            name=PURGED_NAME,
            email=None,
            email_hmac=None,
            phone=None,
            postal_address=None,
        )
    )
    # Rounded to 0.1° (about 11 km), enough for weather, too coarse for a home.
    for site in session.scalars(select(Site).where(Site.customer_id == customer_id)):
        site.latitude = round(site.latitude, 1)
        site.longitude = round(site.longitude, 1)
    return counts
