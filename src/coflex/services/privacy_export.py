"""Export of everything coflex holds on one customer: JSON, a zip of CSV, Green Button.

The export serves the DOE DataGuard principle of access and participation and
the Code of Conduct's competition provision that lets a customer take their
data to another aggregator. Each export is recorded as a privacy request and
in the audit log with the SHA-256 of the file handed out, never its content.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from coflex.adapters import greenbutton
from coflex.adapters.store.models import (
    Base,
    Baseline,
    Consent,
    Contract,
    Customer,
    Device,
    DeviceCommand,
    MeterDay,
    Notice,
    Override,
    Participation,
    Settlement,
    Site,
    Statement,
)
from coflex.adapters.store.models_enrollment import (
    ContractAcceptance,
    ContractAmendment,
    ContractTermination,
    ContractTransition,
    EnrollmentDocument,
)
from coflex.adapters.store.models_governance import (
    AuditEntry,
    Complaint,
    PrivacyRequest,
)
from coflex.adapters.store.models_operations import AutomationDocument
from coflex.adapters.store.models_web import Account, PendingOverride
from coflex.errors import InputError, NotFoundError
from coflex.services import audit

EXPORT_VERSION = 1


class ExportFormat(StrEnum):
    JSON = "json"
    CSV = "csv"
    GREEN_BUTTON = "greenbutton"


MEDIA_TYPES = {
    ExportFormat.JSON: "application/json",
    ExportFormat.CSV: "application/zip",
    ExportFormat.GREEN_BUTTON: "application/atom+xml",
}
SUFFIXES = {
    ExportFormat.JSON: "json",
    ExportFormat.CSV: "zip",
    ExportFormat.GREEN_BUTTON: "xml",
}


@dataclass(frozen=True)
class DateRange:
    """Local days ``first`` to ``last`` inclusive; None leaves that end open."""

    first: date | None = None
    last: date | None = None

    def __post_init__(self) -> None:
        if self.first and self.last and self.last < self.first:
            raise InputError(
                f"export range ends on {self.last} before it starts on {self.first}: "
                "give an end on or after the start",
                value=str(self.last),
                field="end",
            )

    def describe(self) -> str:
        return f"{self.first or 'the first day'} to {self.last or 'the last day'}"


@dataclass(frozen=True)
class ExportFile:
    """An export ready to hand out: its bytes, media type and file name."""

    content: bytes
    media_type: str
    filename: str
    findings: list[str]

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


def parse_format(value: str) -> ExportFormat:
    try:
        return ExportFormat(value.lower())
    except ValueError:
        allowed = ", ".join(f.value for f in ExportFormat)
        raise InputError(
            f"unknown export format {value!r}: use one of {allowed}",
            value=value,
            field="format",
        ) from None


# -- collecting the records ------------------------------------------------------


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bytes):
        return None  # packed arrays and compressed documents: see their hashes
    return value


def _row(model_row: Base, skip: tuple[str, ...]) -> dict[str, Any]:
    columns = model_row.__table__.columns  # type: ignore[attr-defined]
    return {
        c.key: _plain(getattr(model_row, c.key))
        for c in columns
        if c.key not in skip and not isinstance(getattr(model_row, c.key), bytes)
    }


# Columns left out of every export: secrets and internal lookup values.
_SKIPPED = {
    "customers": ("email_hmac",),
    "accounts": ("password_hash",),
}

Condition = Callable[[int, list[int]], ColumnElement[bool]]
# Record kinds in export order: the table and which rows are the customer's,
# given the customer id and the ids of their sites.
KINDS: tuple[tuple[str, type[Base], Condition], ...] = (
    ("accounts", Account, lambda c, s: Account.customer_id == c),
    ("sites", Site, lambda c, s: Site.customer_id == c),
    ("devices", Device, lambda c, s: Device.site_id.in_(s)),
    ("contracts", Contract, lambda c, s: Contract.customer_id == c),
    (
        "contract_transitions",
        ContractTransition,
        lambda c, s: ContractTransition.contract_id.in_(_contracts(c)),
    ),
    (
        "contract_acceptances",
        ContractAcceptance,
        lambda c, s: ContractAcceptance.contract_id.in_(_contracts(c)),
    ),
    (
        "contract_amendments",
        ContractAmendment,
        lambda c, s: ContractAmendment.contract_id.in_(_contracts(c)),
    ),
    (
        "contract_terminations",
        ContractTermination,
        lambda c, s: ContractTermination.contract_id.in_(_contracts(c)),
    ),
    (
        "documents",
        EnrollmentDocument,
        lambda c, s: EnrollmentDocument.customer_id == c,
    ),
    (
        "automation_documents",
        AutomationDocument,
        lambda c, s: AutomationDocument.customer_id == c,
    ),
    ("consents", Consent, lambda c, s: Consent.customer_id == c),
    ("notices", Notice, lambda c, s: Notice.customer_id == c),
    ("participations", Participation, lambda c, s: Participation.site_id.in_(s)),
    (
        "device_commands",
        DeviceCommand,
        lambda c, s: DeviceCommand.device_id.in_(
            select(Device.id).where(Device.site_id.in_(s))
        ),
    ),
    ("overrides", Override, lambda c, s: Override.site_id.in_(s)),
    (
        "override_requests",
        PendingOverride,
        lambda c, s: PendingOverride.site_id.in_(s),
    ),
    ("baselines", Baseline, lambda c, s: Baseline.site_id.in_(s)),
    ("settlements", Settlement, lambda c, s: Settlement.customer_id == c),
    ("statements", Statement, lambda c, s: Statement.customer_id == c),
    ("complaints", Complaint, lambda c, s: Complaint.customer_id == c),
    ("privacy_requests", PrivacyRequest, lambda c, s: PrivacyRequest.customer_id == c),
    ("audit_trail", AuditEntry, lambda c, s: AuditEntry.customer_id == c),
)


def _contracts(customer_id: int) -> Any:
    return select(Contract.id).where(Contract.customer_id == customer_id)


def _order(model: type[Base]) -> Any:
    table = model.__table__  # type: ignore[attr-defined]
    return table.c.seq if "seq" in table.c else table.c.id


def meter_readings(
    session: Session, sites: list[Site], days: DateRange
) -> list[dict[str, Any]]:
    """Return one row per stored interval reading of the sites, in ``days``.

    Each row has the interval's UTC ``start`` and ``end``, its ``energy_kwh``
    as stored (float32) and the source of the reading.
    """
    readings: list[dict[str, Any]] = []
    for site in sites:
        query = select(MeterDay).where(MeterDay.site_id == site.id)
        if days.first is not None:
            query = query.where(MeterDay.day >= days.first)
        if days.last is not None:
            query = query.where(MeterDay.day <= days.last)
        zone = ZoneInfo(site.timezone)
        for row in session.scalars(query.order_by(MeterDay.day)):
            midnight = datetime.combine(row.day, datetime.min.time(), zone)
            values = np.frombuffer(row.energy_kwh, dtype=np.float32)
            for i, energy in enumerate(values.tolist()):
                start = midnight.astimezone(UTC) + timedelta(seconds=i * row.interval_s)
                readings.append(
                    {
                        "site_id": site.id,
                        "start": start.isoformat(),
                        "end": (start + timedelta(seconds=row.interval_s)).isoformat(),
                        "interval_s": row.interval_s,
                        "energy_kwh": energy,
                        "source": row.source,
                    }
                )
    return readings


def collect(
    session: Session, customer: Customer, days: DateRange
) -> tuple[dict[str, Any], list[str]]:
    """Gather every record held on ``customer``; return it and the findings.

    A finding names what the export could not contain, such as meter readings
    outside the stored days.
    """
    identity = _row(customer, _SKIPPED["customers"])
    sites = list(session.scalars(select(Site).where(Site.customer_id == customer.id)))
    site_ids = [s.id for s in sites]
    records: dict[str, list[dict[str, Any]]] = {}
    for kind, model, condition in KINDS:
        skip = _SKIPPED.get(model.__tablename__, ())
        rows = session.scalars(
            select(model)
            .where(condition(customer.id, site_ids))
            .order_by(_order(model))
        )
        records[kind] = [_row(r, skip) for r in rows]
    records["meter_readings"] = meter_readings(session, sites, days)

    findings = []
    if not records["meter_readings"]:
        findings.append(
            f"no interval meter readings are stored for customer {customer.reference} "
            f"from {days.describe()}"
        )
    return {"identity": identity, "records": records}, findings


# -- formats ---------------------------------------------------------------------


def to_json(
    customer: Customer, held: dict[str, Any], findings: list[str], at: datetime
) -> bytes:
    document = {
        "format": "coflex-customer-export",
        "version": EXPORT_VERSION,
        "generated_at": at.astimezone(UTC).isoformat(),
        "customer_reference": customer.reference,
        "findings": findings,
        **held,
    }
    return json.dumps(document, indent=2, ensure_ascii=False).encode("utf-8")


def _csv_text(rows: list[dict[str, Any]]) -> str:
    header: list[str] = []
    for row in rows:
        header.extend(k for k in row if k not in header)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=header, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(
            {
                k: json.dumps(v, ensure_ascii=False)
                if isinstance(v, dict | list)
                else v
                for k, v in row.items()
            }
        )
    return buffer.getvalue()


def to_csv_zip(held: dict[str, Any], findings: list[str]) -> bytes:
    """Return a zip with one CSV per record kind, plus identity.csv and findings."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("identity.csv", _csv_text([held["identity"]]))
        for kind, rows in held["records"].items():
            archive.writestr(f"{kind}.csv", _csv_text(rows) if rows else "")
        archive.writestr("findings.txt", "\n".join(findings) + "\n")
    return buffer.getvalue()


def to_green_button(
    session: Session, customer: Customer, days: DateRange, at: datetime
) -> bytes:
    """Return the customer's interval meter data as an ESPI Atom feed.

    Raises
    ------
    NotFoundError
        If no interval meter data is stored for the customer in ``days``.
    """
    sites = list(
        session.scalars(
            select(Site).where(Site.customer_id == customer.id).order_by(Site.id)
        )
    )
    usage_points = []
    for site in sites:
        query = select(MeterDay).where(MeterDay.site_id == site.id)
        if days.first is not None:
            query = query.where(MeterDay.day >= days.first)
        if days.last is not None:
            query = query.where(MeterDay.day <= days.last)
        blocks = [
            greenbutton.DayBlock(
                start=datetime.combine(
                    row.day, datetime.min.time(), ZoneInfo(site.timezone)
                ),
                interval_s=row.interval_s,
                energy_kwh=np.frombuffer(row.energy_kwh, dtype=np.float32).tolist(),
            )
            for row in session.scalars(query.order_by(MeterDay.day))
        ]
        if blocks:
            usage_points.append(greenbutton.UsagePoint(site.id, blocks))
    if not usage_points:
        raise NotFoundError(
            f"no interval meter data is stored for customer {customer.reference} "
            f"from {days.describe()}: choose another range, or export JSON or CSV "
            "for the other records",
            value=customer.reference,
            field="range",
        )
    return greenbutton.feed(customer.reference, usage_points, at)


# -- the use case ----------------------------------------------------------------


def export_customer(
    session: Session,
    customer: Customer,
    export_format: ExportFormat,
    days: DateRange,
    *,
    actor: str,
    at: datetime,
) -> ExportFile:
    """Build one export of ``customer`` and record that it was handed out.

    Raises
    ------
    NotFoundError
        For a Green Button export with no meter data in ``days``.
    """
    if export_format is ExportFormat.GREEN_BUTTON:
        content, findings = to_green_button(session, customer, days, at), []
    else:
        held, findings = collect(session, customer, days)
        if export_format is ExportFormat.JSON:
            content = to_json(customer, held, findings, at)
        else:
            content = to_csv_zip(held, findings)

    stamp = at.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    result = ExportFile(
        content,
        MEDIA_TYPES[export_format],
        f"coflex-{customer.reference}-{stamp}.{SUFFIXES[export_format]}",
        findings,
    )
    _record(session, customer, export_format, days, result, actor, at)
    return result


def _record(
    session: Session,
    customer: Customer,
    export_format: ExportFormat,
    days: DateRange,
    result: ExportFile,
    actor: str,
    at: datetime,
) -> None:
    session.add(
        PrivacyRequest(
            customer_id=customer.id,
            kind="export",
            received_at=at,
            completed_at=at,
            outcome=f"{export_format.value} export of {len(result.content)} bytes",
        )
    )
    audit.append(
        session,
        [
            audit.AuditRecord(
                at=at,
                action="privacy_export",
                subject=f"customer:{customer.id}",
                details={
                    "format": export_format.value,
                    "first_day": days.first.isoformat() if days.first else None,
                    "last_day": days.last.isoformat() if days.last else None,
                    "sha256": result.sha256,
                    "findings": len(result.findings),
                },
                actor=actor[:64],
                customer_id=customer.id,
            )
        ],
    )
