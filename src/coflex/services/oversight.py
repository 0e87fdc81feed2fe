"""Registrations with regulators: record them, require them, remind before expiry.

The event path calls :func:`require_registration` when a flexibility request
arrives, so no event opens in a jurisdiction where the aggregator has no
registration in force (Code section E, Oversight).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from coflex.adapters.store.models import Aggregator, Program
from coflex.adapters.store.models_governance import Registration
from coflex.domain.governance.registration import is_valid, reminder_due
from coflex.errors import InputError, NotFoundError, RegistrationError
from coflex.services import audit

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RenewalReminder:
    registration_id: int
    jurisdiction: str
    number: str
    expires_at: datetime
    days_before: int


def record_registration(
    session: Session,
    aggregator_id: int,
    *,
    jurisdiction: str,
    authority: str,
    number: str,
    valid_from: datetime,
    expires_at: datetime,
    scope: str = "residential and small business flexibility services",
) -> int:
    """Store a registration and audit it; return its id.

    Raises
    ------
    InputError
        If the registration expires before it starts.
    """
    if expires_at <= valid_from:
        raise InputError(
            f"registration {number!r} expires at {expires_at.isoformat()}, before it "
            f"starts at {valid_from.isoformat()}: give an expiry after the start",
            value=expires_at,
            field="expires_at",
        )
    row = Registration(
        aggregator_id=aggregator_id,
        jurisdiction=jurisdiction,
        authority=authority,
        number=number,
        scope=scope,
        valid_from=valid_from,
        expires_at=expires_at,
    )
    session.add(row)
    session.flush()
    audit.append(
        session,
        [
            audit.AuditRecord(
                at=valid_from,
                action="registration_recorded",
                subject=f"registration:{row.id}",
                details={
                    "jurisdiction": jurisdiction,
                    "number": number,
                    "expires_at": audit.iso(expires_at),
                },
            )
        ],
    )
    return row.id


def valid_registration(
    session: Session, aggregator_id: int, jurisdiction: str, at: datetime
) -> Registration | None:
    """Return a registration in force at ``at`` in ``jurisdiction``, or None."""
    rows = session.scalars(
        select(Registration).where(
            Registration.aggregator_id == aggregator_id,
            Registration.jurisdiction == jurisdiction,
        )
    )
    for row in rows:
        if is_valid(row.valid_from, row.expires_at, row.revoked_at, at):
            return row
    return None


def require_registration(session: Session, program_id: int, at: datetime) -> None:
    """Stop the action unless the program's aggregator is registered at ``at``.

    Raises
    ------
    RegistrationError
        If no registration is in force in the aggregator's jurisdiction.
    """
    program = session.get(Program, program_id)
    if program is None:
        raise NotFoundError(f"program {program_id} not found", value=program_id)
    aggregator = session.get(Aggregator, program.aggregator_id)
    assert aggregator is not None
    if valid_registration(session, aggregator.id, aggregator.jurisdiction, at):
        return
    raise RegistrationError(
        f"aggregator {aggregator.id} has no registration in force in "
        f"{aggregator.jurisdiction} at {at.isoformat()}: no event may open there "
        "until a registration in force is stored in the registrations table",
        value=aggregator.jurisdiction,
        field="jurisdiction",
    )


def renewal_reminders(session: Session, at: datetime) -> list[RenewalReminder]:
    """List registrations in force at ``at`` that have reached a reminder threshold."""
    due = []
    for row in session.scalars(select(Registration).order_by(Registration.id)):
        if not is_valid(row.valid_from, row.expires_at, row.revoked_at, at):
            continue
        days = reminder_due(row.expires_at, at)
        if days is not None:
            due.append(
                RenewalReminder(
                    row.id, row.jurisdiction, row.number, row.expires_at, days
                )
            )
    return due


def renew_registration(
    session: Session,
    registration_id: int,
    *,
    expires_at: datetime,
    at: datetime,
    number: str | None = None,
) -> int:
    """Store the renewal of a registration as a new row; return its id.

    A renewal recorded before the old expiry starts at that expiry, so the
    aggregator has no gap. A late renewal starts at ``at``.
    The old row stays as the record of the earlier period.

    Raises
    ------
    NotFoundError
        If no registration has ``registration_id``.
    InputError
        If the new expiry is not after the renewal's start.
    """
    old = session.get(Registration, registration_id)
    if old is None:
        raise NotFoundError(
            f"registration {registration_id} not found: list them with "
            "`coflex registration list`",
            value=registration_id,
            field="registration_id",
        )
    new_id = record_registration(
        session,
        old.aggregator_id,
        jurisdiction=old.jurisdiction,
        authority=old.authority,
        number=number or old.number,
        valid_from=old.expires_at if old.expires_at > at else at,
        expires_at=expires_at,
        scope=old.scope,
    )
    audit.append(
        session,
        [
            audit.AuditRecord(
                at=at,
                action="registration_renewed",
                subject=f"registration:{new_id}",
                details={"renews": old.id, "expires_at": audit.iso(expires_at)},
            )
        ],
    )
    logger.info("registration %d renewed as %d", old.id, new_id)
    return new_id


def registrations(session: Session) -> list[Registration]:
    """Return every stored registration, by jurisdiction and start."""
    return list(
        session.scalars(
            select(Registration).order_by(
                Registration.jurisdiction, Registration.valid_from, Registration.id
            )
        )
    )
