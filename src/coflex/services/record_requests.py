"""Regulator record requests: scope them to the jurisdiction, build and keep the bundle.

A regulator names a customer, an event or a date range. The request is
limited to the aggregators registered in the regulator's jurisdiction, the
signed bundle of :mod:`coflex.services.records_export` is built at once, and
the bundle folder is kept as one ZIP archive for download. The request and
its bundle's SHA-256 go into the audit log.
"""

from __future__ import annotations

import hashlib
import io
import tempfile
import zipfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from coflex.adapters.store import models as m
from coflex.adapters.store.models_records import RecordRequest
from coflex.errors import InputError, NotFoundError
from coflex.services import audit, records_export

MAX_REASON = 300


@dataclass(frozen=True)
class RecordScope:
    """The scope of a record request: exactly one of a customer, an event or a range."""

    customer_reference: str | None = None
    event_id: int | None = None
    start: datetime | None = None
    end: datetime | None = None


def _jurisdiction_ids(session: Session, jurisdiction: str) -> tuple[set[int], set[int]]:
    """Return the customer and event ids of the aggregators in ``jurisdiction``."""
    aggregators = select(m.Aggregator.id).where(
        m.Aggregator.jurisdiction == jurisdiction
    )
    customers = set(
        session.scalars(
            select(m.Customer.id).where(m.Customer.aggregator_id.in_(aggregators))
        )
    )
    events = set(
        session.scalars(
            select(m.Event.id)
            .join(m.Program, m.Program.id == m.Event.program_id)
            .where(m.Program.aggregator_id.in_(aggregators))
        )
    )
    return customers, events


def resolve(
    session: Session, jurisdiction: str, requested: RecordScope
) -> records_export.Scope:
    """Resolve ``requested`` and keep only records of the regulator's jurisdiction.

    Raises
    ------
    NotFoundError
        If the customer or event is outside the jurisdiction, or nothing in
        the range belongs to it.
    InputError
        If not exactly one kind of scope is given.
    """
    scope = records_export.resolve_scope(
        session,
        customer_ref=requested.customer_reference,
        event_id=requested.event_id,
        start=requested.start,
        end=requested.end,
    )
    customers, events = _jurisdiction_ids(session, jurisdiction)
    outside = (
        requested.customer_reference is not None
        and not scope.customer_ids <= customers
    ) or (requested.event_id is not None and requested.event_id not in events)
    if outside:
        named = requested.customer_reference or f"event {requested.event_id}"
        raise NotFoundError(
            f"{named} not found in jurisdiction {jurisdiction}: name a customer or "
            "event of an aggregator registered there",
            value=requested.customer_reference or requested.event_id,
            field="customer_reference" if requested.customer_reference else "event_id",
        )
    scope.customer_ids &= customers
    scope.event_ids &= events
    if not scope.customer_ids and not scope.event_ids:
        raise NotFoundError(
            f"no records of jurisdiction {jurisdiction} in this range: widen it",
            value=scope.description,
            field="from",
        )
    return scope


def _zip_folder(folder: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(folder).as_posix())
    return buffer.getvalue()


def create_request(
    session: Session,
    *,
    account_id: int,
    jurisdiction: str,
    requested: RecordScope,
    reason: str,
    key: Ed25519PrivateKey,
    at: datetime,
) -> RecordRequest:
    """Store a record request with its signed bundle; return the stored row.

    Raises
    ------
    InputError
        If the reason is empty or longer than 300 characters.
    NotFoundError
        If the scope names nothing in the jurisdiction.
    """
    if not reason.strip() or len(reason) > MAX_REASON:
        raise InputError(
            f"the reason has {len(reason.strip())} characters: give 1 to "
            f"{MAX_REASON}, e.g. the inquiry or case number",
            value=len(reason),
            field="reason",
        )
    scope = resolve(session, jurisdiction, requested)
    with tempfile.TemporaryDirectory(prefix="coflex-bundle-") as folder:
        manifest = records_export.export_bundle(
            session, scope, Path(folder) / "bundle", key, created_at=at
        )
        archive = _zip_folder(Path(folder) / "bundle")
    row = RecordRequest(
        account_id=account_id,
        jurisdiction=jurisdiction,
        scope=scope.description,
        reason=reason.strip(),
        requested_at=at,
        completed_at=at,
        files=len(manifest["files"]),
        records=sum(entry["records"] for entry in manifest["files"]),
        signing_key_sha256=manifest["signing_key_sha256"],
        bundle_sha256=hashlib.sha256(archive).hexdigest(),
        bundle_zip=archive,
    )
    session.add(row)
    session.flush()
    audit.append(
        session,
        [
            audit.AuditRecord(
                at=at,
                action="records_requested",
                subject=f"record_request:{row.id}",
                details={
                    "scope": scope.description,
                    "bundle_sha256": row.bundle_sha256,
                    "records": row.records,
                },
                actor=f"account:{account_id}",
                event_id=requested.event_id,
            )
        ],
    )
    return row
