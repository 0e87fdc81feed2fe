"""Tables for administration and governance: audit log, complaints, records, oversight.

The audit log is its own append-only table: each row carries the SHA-256 of
the row before it, so that an edited or deleted row breaks the chain. Its rows
hold ids and codes, never names or contact details, so they can outlive the
purge of a customer's personal data.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from coflex.adapters.store.models import Base, UtcDateTime


class AuditEntry(Base):
    """One link of the hash-chained audit log."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_customer", "customer_id"),
        Index("ix_audit_event", "event_id"),
    )

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(48))
    subject: Mapped[str] = mapped_column(String(64))
    # No foreign keys: the trail must outlive purged or anonymised records.
    customer_id: Mapped[int | None] = mapped_column(Integer)
    event_id: Mapped[int | None] = mapped_column(Integer)
    details: Mapped[dict] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64))
    row_hash: Mapped[str] = mapped_column(String(64), unique=True)


class Complaint(Base):
    """A customer complaint with its deadlines, links and outcome."""

    __tablename__ = "complaints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reference: Mapped[str] = mapped_column(String(32), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    jurisdiction: Mapped[str] = mapped_column(String(16))
    category: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(16))
    logged_by: Mapped[str] = mapped_column(String(64))
    summary: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime())
    acknowledge_by: Mapped[datetime] = mapped_column(UtcDateTime())
    respond_by: Mapped[datetime] = mapped_column(UtcDateTime())
    escalation_from: Mapped[datetime] = mapped_column(UtcDateTime())
    acknowledged_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    deadlocked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    escalated_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    status: Mapped[str] = mapped_column(String(16))
    outcome: Mapped[str | None] = mapped_column(String(24))
    response: Mapped[str | None] = mapped_column(Text)
    final_letter: Mapped[str | None] = mapped_column(Text)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id"))
    statement_id: Mapped[int | None] = mapped_column(ForeignKey("statements.id"))
    baseline_id: Mapped[int | None] = mapped_column(ForeignKey("baselines.id"))


class ComplaintReminder(Base):
    """A reminder sent to staff before a complaint deadline; one per deadline."""

    __tablename__ = "complaint_reminders"
    __table_args__ = (UniqueConstraint("complaint_id", "deadline"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    complaint_id: Mapped[int] = mapped_column(ForeignKey("complaints.id"))
    deadline: Mapped[str] = mapped_column(String(24))
    due_at: Mapped[datetime] = mapped_column(UtcDateTime())
    sent_at: Mapped[datetime] = mapped_column(UtcDateTime())


class Registration(Base):
    """The aggregator's registration with a regulatory authority in a jurisdiction."""

    __tablename__ = "registrations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    aggregator_id: Mapped[int] = mapped_column(ForeignKey("aggregators.id"))
    jurisdiction: Mapped[str] = mapped_column(String(16))
    authority: Mapped[str] = mapped_column(String(200))
    number: Mapped[str] = mapped_column(String(64))
    scope: Mapped[str] = mapped_column(String(200))
    valid_from: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class LegalHold(Base):
    """A hold that stops the purge of a customer's or an event's records."""

    __tablename__ = "legal_holds"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scope: Mapped[str] = mapped_column(String(16))  # "customer" or "event"
    scope_id: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(300))
    placed_by: Mapped[str] = mapped_column(String(64))
    placed_at: Mapped[datetime] = mapped_column(UtcDateTime())
    released_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class CompliancePlan(Base):
    """A compliance plan as filed with the regulator, with its configuration hash."""

    __tablename__ = "compliance_plans"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    filed_at: Mapped[datetime] = mapped_column(UtcDateTime())
    filed_by: Mapped[str] = mapped_column(String(64))
    config_hash: Mapped[str] = mapped_column(String(64))
    configuration: Mapped[dict] = mapped_column(JSON)
    document: Mapped[str] = mapped_column(Text)


class PrivacyRequest(Base):
    """A customer's request to export, correct or delete their data, and its result."""

    __tablename__ = "privacy_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    received_at: Mapped[datetime] = mapped_column(UtcDateTime())
    completed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    outcome: Mapped[str] = mapped_column(String(300))
