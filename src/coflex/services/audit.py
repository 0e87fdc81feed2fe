"""The tamper-evident audit log: append in the caller's transaction, verify the chain.

Each row's hash is the SHA-256 of the previous row's hash followed by the
canonical JSON of the row (keys sorted, no whitespace, UTC ISO 8601 times), so
editing, inserting or deleting a row inside the chain changes every later hash.
Callers add rows with :func:`append` inside the transaction that stores the
action, so an action and its audit rows are stored together or not at all.

Rows carry ids, codes and hashes of documents, never names, addresses or the
text sent to a customer.

Cutting rows off the end of the log leaves a shorter chain that still
verifies on its own. Signed anchors of the head, kept outside the database
(:mod:`coflex.services.audit_anchors`), reveal that, and regulator exports
sign the head as well.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from coflex.adapters.store.bulk import insert_rows
from coflex.adapters.store.models_governance import AuditEntry

GENESIS_HASH = "0" * 64
SYSTEM_ACTOR = "coflex"
# Key of the PostgreSQL advisory lock that serialises appends to the chain.
_CHAIN_LOCK_KEY = 0x636F666C6578


@dataclass(frozen=True)
class AuditRecord:
    """An action to append to the audit log."""

    at: datetime
    action: str
    subject: str
    details: Mapping[str, Any] = field(default_factory=dict)
    actor: str = SYSTEM_ACTOR
    customer_id: int | None = None
    event_id: int | None = None


@dataclass(frozen=True)
class ChainReport:
    """The result of verifying the audit chain.

    ``broken_seq`` is the first row that fails, or None when the chain holds.
    """

    rows_checked: int
    head_seq: int
    head_hash: str
    broken_seq: int | None = None
    problem: str | None = None

    @property
    def intact(self) -> bool:
        return self.broken_seq is None


def canonical_json(fields: Mapping[str, Any]) -> str:
    """Serialise ``fields`` with sorted keys and no whitespace, as hashed."""
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def chain_hash(prev_hash: str, fields: Mapping[str, Any]) -> str:
    """Return the SHA-256 of the previous hash followed by the row's canonical JSON."""
    payload = prev_hash + canonical_json(fields)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def iso(at: datetime | None) -> str | None:
    """Return a UTC ISO 8601 string for a timezone-aware time, or None."""
    return None if at is None else at.astimezone(UTC).isoformat()


def _fields(seq: int, record: AuditRecord | AuditEntry) -> dict[str, Any]:
    return {
        "seq": seq,
        "at": iso(record.at),
        "actor": record.actor,
        "action": record.action,
        "subject": record.subject,
        "customer_id": record.customer_id,
        "event_id": record.event_id,
        "details": dict(record.details),
    }


def _head(session: Session) -> tuple[int, str]:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text("SELECT pg_advisory_xact_lock(:key)"), {"key": _CHAIN_LOCK_KEY}
        )
    row = session.execute(
        select(AuditEntry.seq, AuditEntry.row_hash)
        .order_by(AuditEntry.seq.desc())
        .limit(1)
    ).first()
    return (0, GENESIS_HASH) if row is None else (int(row[0]), str(row[1]))


def append(session: Session, records: Sequence[AuditRecord]) -> int:
    """Append ``records`` to the chain in the caller's transaction.

    Returns
    -------
    int
        The sequence number of the last row appended (0 when nothing is).
    """
    if not records:
        return 0
    seq, prev = _head(session)
    rows = []
    for record in records:
        seq += 1
        fields = _fields(seq, record)
        row_hash = chain_hash(prev, fields)
        rows.append(
            {
                **fields,
                "at": record.at,
                "prev_hash": prev,
                "row_hash": row_hash,
            }
        )
        prev = row_hash
    insert_rows(session, AuditEntry, rows)
    return seq


def verify(session: Session) -> ChainReport:
    """Recompute the chain from its first row and report the first broken row."""
    prev, expected, checked = GENESIS_HASH, 1, 0
    rows = session.scalars(
        select(AuditEntry).order_by(AuditEntry.seq).execution_options(yield_per=5000)
    )
    try:
        for row in rows:
            problem = _link_problem(row, expected, prev)
            if problem is not None:
                return ChainReport(checked, row.seq, prev, row.seq, problem)
            prev, expected, checked = row.row_hash, row.seq + 1, checked + 1
    finally:
        rows.close()  # a server-side cursor on PostgreSQL
    return ChainReport(checked, expected - 1, prev)


def _link_problem(row: AuditEntry, expected_seq: int, prev_hash: str) -> str | None:
    if row.seq != expected_seq:
        return f"rows {expected_seq} to {row.seq - 1} are missing"
    if row.prev_hash != prev_hash:
        return "prev_hash does not match the hash of the row before"
    if chain_hash(row.prev_hash, _fields(row.seq, row)) != row.row_hash:
        return "the row's content does not match its hash: it was changed"
    return None


# -- records of the event path ---------------------------------------------------


def _sha256(text_value: str) -> str:
    return hashlib.sha256(text_value.encode("utf-8")).hexdigest()


def request_records(event_id: int, at: datetime, target_kw: float) -> list[AuditRecord]:
    """Build the record of a flexibility request that opened an event."""
    return [
        AuditRecord(
            at=at,
            action="flexibility_request_received",
            subject=f"event:{event_id}",
            details={"target_kw": float(target_kw)},
            event_id=event_id,
        )
    ]


def eligibility_records(rows: Iterable[Mapping[str, Any]]) -> list[AuditRecord]:
    """Build one record per eligibility decision row."""
    return [
        AuditRecord(
            at=row["decided_at"],
            action="eligibility_decided",
            subject=f"device:{row['device_id']}"
            if row["device_id"] is not None
            else f"site:{row['site_id']}",
            details={
                "site_id": int(row["site_id"]),
                "eligible": bool(row["eligible"]),
                "reason": row["reason"],
            },
            event_id=int(row["event_id"]),
        )
        for row in rows
    ]


def notice_records(rows: Iterable[Mapping[str, Any]]) -> list[AuditRecord]:
    """Build one record per notice row; the text itself is kept only as a hash."""
    return [
        AuditRecord(
            at=row["sent_at"] or row["created_at"],
            action=f"notice_{row['kind']}",
            subject=f"customer:{row['customer_id']}",
            details={
                "channel": row["channel"],
                "status": row["status"],
                "delivered_at": iso(row["delivered_at"]),
                "body_sha256": _sha256(row["body"]),
            },
            customer_id=int(row["customer_id"]),
            event_id=int(row["event_id"]),
        )
        for row in rows
    ]


def command_records(rows: Iterable[Mapping[str, Any]]) -> list[AuditRecord]:
    """Build one record per device command row."""
    return [
        AuditRecord(
            at=row["issued_at"],
            action=f"command_{row['action']}",
            subject=f"device:{row['device_id']}",
            details={
                "value": row["value"],
                "reason": row["reason"],
                "acknowledged_at": iso(row["acknowledged_at"]),
            },
            event_id=int(row["event_id"]),
        )
        for row in rows
    ]


def override_records(rows: Iterable[Mapping[str, Any]]) -> list[AuditRecord]:
    """Build one record per honoured override row."""
    return [
        AuditRecord(
            at=row["honoured_at"],
            action="override_honoured",
            subject=f"site:{row['site_id']}",
            details={
                "channel": row["channel"],
                "requested_at": iso(row["requested_at"]),
                "penalty": float(row["penalty"]),
            },
            event_id=int(row["event_id"]),
        )
        for row in rows
    ]


def safety_release_records(rows: Iterable[Mapping[str, Any]]) -> list[AuditRecord]:
    """Build one record per safety release row."""
    return [
        AuditRecord(
            at=row["released_at"],
            action="safety_release",
            subject=f"device:{row['device_id']}",
            details={
                "reason": row["reason"],
                "observed_value": float(row["observed_value"]),
                "limit_value": float(row["limit_value"]),
            },
            event_id=int(row["event_id"]),
        )
        for row in rows
    ]


def statement_records(rows: Iterable[Mapping[str, Any]]) -> list[AuditRecord]:
    """Build one record per issued statement row, with the statement's hash."""
    return [
        AuditRecord(
            at=row["issued_at"],
            action="statement_issued",
            subject=f"customer:{row['customer_id']}",
            details={"content_hash": row["content_hash"]},
            customer_id=int(row["customer_id"]),
            event_id=int(row["event_id"]),
        )
        for row in rows
    ]
