"""Complaints: intake, acknowledgement, closing, escalation, reminders, reports.

Every change of state is stored with an audit row in the same transaction. The
audit rows carry the complaint's reference and status, never its text.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from coflex.adapters.store.models import (
    Aggregator,
    Baseline,
    Customer,
    Event,
    Site,
    Statement,
)
from coflex.adapters.store.models_governance import Complaint, ComplaintReminder
from coflex.domain.administration import complaints as rules
from coflex.domain.administration.policy import policy_for
from coflex.errors import InputError, NotFoundError, RuleViolation
from coflex.services import audit

logger = logging.getLogger(__name__)

CLOSED = {rules.Status.RESOLVED, rules.Status.DEADLOCKED, rules.Status.ESCALATED}


@dataclass(frozen=True)
class Intake:
    """A complaint as received: who, about what, how, and when."""

    customer_ref: str
    category: str
    summary: str
    channel: str
    logged_by: str
    received_at: datetime
    event_id: int | None = None
    statement_ref: str | None = None


def customer_by_reference(session: Session, reference: str) -> Customer:
    """Return the customer with ``reference``, matched without regard to case.

    Raises
    ------
    NotFoundError
        If no customer has that reference.
    """
    customer = session.scalars(
        select(Customer).where(func.upper(Customer.reference) == reference.upper())
    ).first()
    if customer is None:
        raise NotFoundError(
            f"customer {reference!r} not found: give a reference such as A1-C000001",
            value=reference,
            field="customer",
        )
    return customer


def _event(session: Session, event_id: int) -> Event:
    event = session.get(Event, event_id)
    if event is None:
        raise NotFoundError(
            f"event {event_id} not found: give the id of a stored event, as shown "
            "in the event report (E<id>)",
            value=event_id,
            field="event",
        )
    return event


def find_statement(session: Session, statement_ref: str) -> Statement:
    """Return the statement with reference ``E<event id>-<customer reference>``.

    Raises
    ------
    NotFoundError
        If the reference is malformed or names no stored statement.
    """
    event_part, _, customer_ref = statement_ref.partition("-")
    if not event_part.startswith("E") or not event_part[1:].isdigit():
        raise NotFoundError(
            f"statement {statement_ref!r} not found: a statement reference reads "
            "E<event id>-<customer reference>, e.g. E3-A1-C000001",
            value=statement_ref,
            field="statement",
        )
    customer = customer_by_reference(session, customer_ref)
    statement = session.scalars(
        select(Statement).where(
            Statement.event_id == int(event_part[1:]),
            Statement.customer_id == customer.id,
        )
    ).first()
    if statement is None:
        raise NotFoundError(
            f"statement {statement_ref!r} not found: customer {customer_ref} has "
            f"no statement for event {event_part[1:]}",
            value=statement_ref,
            field="statement",
        )
    return statement


def _baseline_id(session: Session, event_id: int, customer_id: int) -> int | None:
    return session.scalar(
        select(Baseline.id)
        .join(Site, Site.id == Baseline.site_id)
        .where(Baseline.event_id == event_id, Site.customer_id == customer_id)
    )


def get(session: Session, reference: str) -> Complaint:
    """Return the complaint with ``reference``, e.g. CMP-000001."""
    complaint = session.scalars(
        select(Complaint).where(Complaint.reference == reference)
    ).first()
    if complaint is None:
        raise NotFoundError(
            f"complaint {reference!r} not found: list complaints with "
            "`coflex complaints report`",
            value=reference,
            field="complaint",
        )
    return complaint


def _audit(session: Session, complaint: Complaint, action: str, at: datetime) -> None:
    audit.append(
        session,
        [
            audit.AuditRecord(
                at=at,
                action=action,
                subject=f"complaint:{complaint.reference}",
                details={
                    "status": complaint.status,
                    "category": complaint.category,
                    "outcome": complaint.outcome,
                    "event_id": complaint.event_id,
                    "statement_id": complaint.statement_id,
                },
                customer_id=complaint.customer_id,
                event_id=complaint.event_id,
            )
        ],
    )


def log_complaint(session: Session, intake: Intake) -> Complaint:
    """Register a complaint, set its deadlines and link the records it concerns.

    Raises
    ------
    NotFoundError
        If the customer, event or statement does not exist.
    InputError
        If the category or channel is unknown, or the summary is empty.
    """
    category = rules.parse_choice(rules.Category, intake.category, "category")
    channel = rules.parse_choice(rules.IntakeChannel, intake.channel, "channel")
    if not intake.summary.strip():
        raise InputError(
            "the complaint summary is empty: write what the customer said",
            field="summary",
        )
    customer = customer_by_reference(session, intake.customer_ref)
    event_id, statement_id, baseline_id = intake.event_id, None, None
    if intake.statement_ref is not None:
        statement = find_statement(session, intake.statement_ref)
        if statement.customer_id != customer.id:
            raise InputError(
                f"statement {intake.statement_ref!r} belongs to another customer: "
                f"give a statement of {intake.customer_ref}",
                value=intake.statement_ref,
                field="statement",
            )
        statement_id, event_id = statement.id, statement.event_id
        baseline_id = _baseline_id(session, statement.event_id, customer.id)
    if event_id is not None:
        _event(session, event_id)

    aggregator = session.get(Aggregator, customer.aggregator_id)
    assert aggregator is not None
    policy = policy_for(aggregator.jurisdiction)
    due = rules.deadlines(intake.received_at, policy)
    complaint = Complaint(
        reference=f"pending-{uuid.uuid4().hex[:24]}",
        customer_id=customer.id,
        jurisdiction=policy.jurisdiction,
        category=category.value,
        channel=channel.value,
        logged_by=intake.logged_by,
        summary=intake.summary.strip(),
        received_at=intake.received_at,
        acknowledge_by=due.acknowledge_by,
        respond_by=due.respond_by,
        escalation_from=due.escalation_from,
        status=rules.Status.OPEN.value,
        event_id=event_id,
        statement_id=statement_id,
        baseline_id=baseline_id,
    )
    session.add(complaint)
    session.flush()
    complaint.reference = f"CMP-{complaint.id:06d}"
    _audit(session, complaint, "complaint_received", intake.received_at)
    logger.info("complaint %s received (%s)", complaint.reference, category.value)
    return complaint


def dispute_statement(
    session: Session,
    statement_ref: str,
    summary: str,
    *,
    channel: str,
    logged_by: str,
    received_at: datetime,
) -> Complaint:
    """Open a baseline-and-payment complaint linked to a statement and its baseline."""
    statement = find_statement(session, statement_ref)
    customer = session.get(Customer, statement.customer_id)
    assert customer is not None
    return log_complaint(
        session,
        Intake(
            customer_ref=customer.reference,
            category=rules.Category.BASELINE_AND_PAYMENT.value,
            summary=summary,
            channel=channel,
            logged_by=logged_by,
            received_at=received_at,
            statement_ref=statement_ref,
        ),
    )


def _require_open(complaint: Complaint, action: str) -> None:
    if complaint.status in CLOSED:
        raise RuleViolation(
            f"complaint {complaint.reference} is {complaint.status}: it cannot be "
            f"{action}; open a new complaint if the customer raises a new issue",
            value=complaint.status,
            field="status",
        )


def acknowledge(session: Session, reference: str, at: datetime) -> Complaint:
    """Record that the customer received an acknowledgement of the complaint."""
    complaint = get(session, reference)
    _require_open(complaint, "acknowledged")
    if complaint.acknowledged_at is None:
        complaint.acknowledged_at = at
        complaint.status = rules.Status.ACKNOWLEDGED.value
        _audit(session, complaint, "complaint_acknowledged", at)
    return complaint


def _letter(
    session: Session, complaint: Complaint, deadlock: bool, at: datetime
) -> str:
    customer = session.get(Customer, complaint.customer_id)
    assert customer is not None
    aggregator = session.get(Aggregator, customer.aggregator_id)
    assert aggregator is not None
    return rules.final_response_letter(
        rules.LetterFacts(
            reference=complaint.reference,
            customer_name=customer.name,
            aggregator_name=aggregator.name,
            received_at=complaint.received_at,
            response=complaint.response or "",
            outcome=rules.Outcome(complaint.outcome) if complaint.outcome else None,
            deadlock=deadlock,
            escalation_from=complaint.escalation_from,
            issued_at=at,
        ),
        policy_for(complaint.jurisdiction),
    )


def _close(
    session: Session,
    reference: str,
    response: str,
    at: datetime,
    *,
    outcome: str | None,
    deadlock: bool,
) -> Complaint:
    complaint = get(session, reference)
    _require_open(complaint, "closed again")
    if not response.strip():
        raise InputError(
            f"the response to {reference} is empty: write the final position the "
            "letter gives the customer",
            field="response",
        )
    if complaint.acknowledged_at is None:
        complaint.acknowledged_at = at
    complaint.response = response.strip()
    if deadlock:
        complaint.deadlocked_at = at
        complaint.status = rules.Status.DEADLOCKED.value
    else:
        parsed = rules.parse_choice(rules.Outcome, outcome or "", "outcome")
        complaint.outcome = parsed.value
        complaint.resolved_at = at
        complaint.status = rules.Status.RESOLVED.value
    complaint.final_letter = _letter(session, complaint, deadlock, at)
    _audit(session, complaint, f"complaint_{complaint.status}", at)
    return complaint


def resolve(
    session: Session, reference: str, outcome: str, response: str, at: datetime
) -> Complaint:
    """Close a complaint with an outcome and write its final-response letter."""
    return _close(session, reference, response, at, outcome=outcome, deadlock=False)


def declare_deadlock(
    session: Session, reference: str, response: str, at: datetime
) -> Complaint:
    """Close a complaint as deadlocked: the customer may go to the regulator at once."""
    return _close(session, reference, response, at, outcome=None, deadlock=True)


def escalate(session: Session, reference: str, at: datetime) -> Complaint:
    """Record that the customer took the complaint to the regulator.

    Raises
    ------
    RuleViolation
        If the escalation period has not passed and there is no deadlock.
    """
    complaint = get(session, reference)
    if complaint.status == rules.Status.ESCALATED.value:
        return complaint
    if not rules.may_escalate(complaint.escalation_from, complaint.deadlocked_at, at):
        raise RuleViolation(
            f"complaint {reference} may go to the regulator from "
            f"{complaint.escalation_from.isoformat()} or on deadlock: declare a "
            "deadlock first if no agreement is possible",
            value=reference,
            field="complaint",
        )
    complaint.escalated_at = at
    complaint.status = rules.Status.ESCALATED.value
    _audit(session, complaint, "complaint_escalated", at)
    return complaint


@dataclass(frozen=True)
class Reminder:
    reference: str
    deadline: str
    due_at: datetime


def _open_deadlines(complaint: Complaint) -> list[tuple[str, datetime]]:
    found = []
    if complaint.acknowledged_at is None:
        found.append(("acknowledge", complaint.acknowledge_by))
    if complaint.status not in {s.value for s in CLOSED}:
        found.append(("respond", complaint.respond_by))
        found.append(("escalation_right", complaint.escalation_from))
    return found


def send_reminders(session: Session, at: datetime) -> list[Reminder]:
    """Remind staff of every deadline within its policy's reminder window; once each."""
    sent = set(
        session.execute(
            select(ComplaintReminder.complaint_id, ComplaintReminder.deadline)
        ).all()
    )
    open_rows = session.scalars(
        select(Complaint).where(Complaint.status.in_(["open", "acknowledged"]))
    )
    due = []
    for complaint in open_rows:
        window = policy_for(complaint.jurisdiction).reminder_before
        for deadline, due_at in _open_deadlines(complaint):
            if due_at - window > at or (complaint.id, deadline) in sent:
                continue
            session.add(
                ComplaintReminder(
                    complaint_id=complaint.id,
                    deadline=deadline,
                    due_at=due_at,
                    sent_at=at,
                )
            )
            due.append(Reminder(complaint.reference, deadline, due_at))
    if due:
        logger.info("sent %d complaint deadline reminders", len(due))
    return due


def _days(pairs: list[tuple[datetime, datetime | None]]) -> list[float]:
    return [(b - a).total_seconds() / 86400 for a, b in pairs if b is not None]


def report(session: Session, start: datetime, end: datetime) -> dict[str, object]:
    """Count complaints received in [start, end); measure times [days] and outcomes."""
    rows = list(
        session.scalars(
            select(Complaint).where(
                Complaint.received_at >= start, Complaint.received_at < end
            )
        )
    )
    acknowledge = _days([(c.received_at, c.acknowledged_at) for c in rows])
    close = _days([(c.received_at, c.resolved_at or c.deadlocked_at) for c in rows])
    return {
        "from": start.isoformat(),
        "to": end.isoformat(),
        "received": len(rows),
        "by_category": dict(sorted(Counter(c.category for c in rows).items())),
        "by_channel": dict(sorted(Counter(c.channel for c in rows).items())),
        "by_status": dict(sorted(Counter(c.status for c in rows).items())),
        "by_outcome": dict(
            sorted(Counter(c.outcome for c in rows if c.outcome).items())
        ),
        "acknowledged_in_time": sum(
            1
            for c in rows
            if c.acknowledged_at is not None and c.acknowledged_at <= c.acknowledge_by
        ),
        "closed_by_target": sum(
            1
            for c in rows
            if (c.resolved_at or c.deadlocked_at) is not None
            and (c.resolved_at or c.deadlocked_at) <= c.respond_by  # type: ignore[operator]
        ),
        "escalated": sum(1 for c in rows if c.escalated_at is not None),
        "median_days_to_acknowledge": float(np.median(acknowledge))
        if acknowledge
        else None,
        "median_days_to_close": float(np.median(close)) if close else None,
        "linked_to_event": sum(1 for c in rows if c.event_id is not None),
        "linked_to_statement": sum(1 for c in rows if c.statement_id is not None),
    }
