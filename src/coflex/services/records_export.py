"""Regulator export bundles: the records of a customer, an event or a date range.

A bundle is a folder of JSON files (one per record type), the statements as
HTML, the matching audit rows as JSON Lines, and ``manifest.json`` with the
SHA-256 and size of every file, the scope, and the audit chain's head. The
manifest is signed with Ed25519 (``manifest.sig``) and the public key is
included (``public_key.pem``), so a regulator can check the bundle offline.
A key fingerprint equal to the one the aggregator filed shows that the bundle
came from it.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from coflex.adapters import signing
from coflex.adapters.store import models as m
from coflex.adapters.store.models_governance import AuditEntry, Complaint, Registration
from coflex.errors import InputError, NotFoundError
from coflex.services import audit
from coflex.services.complaints import customer_by_reference

BUNDLE_FORMAT = "coflex-records-bundle/1"
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
PUBLIC_KEY = "public_key.pem"
_FLOAT32_COLUMNS = {"baseline_kwh", "actual_kwh", "energy_kwh"}


@dataclass
class Scope:
    """The customers and events a bundle covers, as ids."""

    description: dict[str, Any]
    customer_ids: set[int] = field(default_factory=set)
    event_ids: set[int] = field(default_factory=set)


def _json_value(name: str, value: Any) -> Any:
    if isinstance(value, datetime):
        return audit.iso(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bytes):
        if name in _FLOAT32_COLUMNS:
            return np.frombuffer(value, dtype=np.float32).astype(float).tolist()
        return base64.b64encode(value).decode()
    return value


def row_json(row: m.Base) -> dict[str, Any]:
    """Return a stored row as a JSON-ready dict of its columns."""
    table = row.__table__  # type: ignore[attr-defined]
    return {c.key: _json_value(c.key, getattr(row, c.key)) for c in table.columns}


def resolve_scope(
    session: Session,
    *,
    customer_ref: str | None = None,
    event_id: int | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> Scope:
    """Turn a customer, an event or a date range into customer and event ids.

    Raises
    ------
    InputError
        If not exactly one kind of scope is given.
    NotFoundError
        If the customer or event does not exist, or the range contains no records.
    """
    given = [customer_ref is not None, event_id is not None, start is not None]
    if sum(given) != 1 or (start is None) != (end is None):
        raise InputError(
            "give exactly one of --customer, --event or --from with --to",
            field="scope",
        )
    if customer_ref is not None:
        return _customer_scope(session, customer_ref)
    if event_id is not None:
        return _event_scope(session, event_id)
    assert start is not None and end is not None
    return _range_scope(session, start, end)


def _events_of(session: Session, customer_ids: set[int]) -> set[int]:
    found: set[int] = set()
    for model in (m.Notice, m.Statement, m.Settlement):
        found.update(
            session.scalars(
                select(model.event_id).where(model.customer_id.in_(customer_ids))
            )
        )
    return found


def _customers_of(session: Session, event_ids: set[int]) -> set[int]:
    found: set[int] = set()
    for model in (m.Notice, m.Statement):
        found.update(
            session.scalars(
                select(model.customer_id).where(model.event_id.in_(event_ids))
            )
        )
    found.update(
        session.scalars(
            select(m.Site.customer_id)
            .join(m.Participation, m.Participation.site_id == m.Site.id)
            .where(m.Participation.event_id.in_(event_ids))
        )
    )
    return found


def _customer_scope(session: Session, reference: str) -> Scope:
    customer = customer_by_reference(session, reference)
    return Scope(
        {"customer": customer.reference},
        {customer.id},
        _events_of(session, {customer.id}),
    )


def _event_scope(session: Session, event_id: int) -> Scope:
    if session.get(m.Event, event_id) is None:
        raise NotFoundError(
            f"event {event_id} not found: give the id of a stored event",
            value=event_id,
            field="event",
        )
    return Scope({"event": event_id}, _customers_of(session, {event_id}), {event_id})


def _range_scope(session: Session, start: datetime, end: datetime) -> Scope:
    if end <= start:
        raise InputError(
            f"--to {end.isoformat()} is not after --from {start.isoformat()}: "
            "give a later end",
            value=end,
            field="to",
        )
    events = set(
        session.scalars(
            select(m.Event.id).where(m.Event.start >= start, m.Event.start < end)
        )
    )
    customers = _customers_of(session, events) if events else set()
    customers.update(
        session.scalars(
            select(Complaint.customer_id).where(
                Complaint.received_at >= start, Complaint.received_at < end
            )
        )
    )
    if not events and not customers:
        raise NotFoundError(
            f"no events or complaints from {start.isoformat()} to {end.isoformat()}: "
            "widen the range or export by --customer or --event",
            value=(start, end),
            field="range",
        )
    return Scope({"from": audit.iso(start), "to": audit.iso(end)}, customers, events)


def _rows(session: Session, statement: Any) -> list[dict[str, Any]]:
    return [row_json(row) for row in session.scalars(statement)]


def _collect(session: Session, scope: Scope) -> dict[str, list[dict[str, Any]]]:
    """Read every record in scope, keyed by the bundle file it goes to."""
    customers, events = scope.customer_ids, scope.event_ids
    sites = set(
        session.scalars(select(m.Site.id).where(m.Site.customer_id.in_(customers)))
    )
    devices = set(
        session.scalars(select(m.Device.id).where(m.Device.site_id.in_(sites)))
    )
    contracts = _rows(
        session, select(m.Contract).where(m.Contract.customer_id.in_(customers))
    )
    programs = {c["program_id"] for c in contracts}
    aggregators = set(
        session.scalars(
            select(m.Customer.aggregator_id).where(m.Customer.id.in_(customers))
        )
    )
    requests = session.scalars(select(m.Event.request_id).where(m.Event.id.in_(events)))
    in_events = lambda model: model.event_id.in_(events)  # noqa: E731
    return {
        "aggregators": _rows(
            session, select(m.Aggregator).where(m.Aggregator.id.in_(aggregators))
        ),
        "registrations": _rows(
            session,
            select(Registration).where(Registration.aggregator_id.in_(aggregators)),
        ),
        "programs": _rows(session, select(m.Program).where(m.Program.id.in_(programs))),
        "customers": _rows(
            session, select(m.Customer).where(m.Customer.id.in_(customers))
        ),
        "sites": _rows(session, select(m.Site).where(m.Site.id.in_(sites))),
        "devices": _rows(session, select(m.Device).where(m.Device.id.in_(devices))),
        "contracts": contracts,
        "consents": _rows(
            session, select(m.Consent).where(m.Consent.customer_id.in_(customers))
        ),
        "flexibility_requests": _rows(
            session,
            select(m.FlexibilityRequest).where(
                m.FlexibilityRequest.id.in_(list(requests))
            ),
        ),
        "events": _rows(session, select(m.Event).where(m.Event.id.in_(events))),
        "eligibility_decisions": _rows(
            session,
            select(m.EligibilityDecision).where(
                in_events(m.EligibilityDecision),
                m.EligibilityDecision.site_id.in_(sites),
            ),
        ),
        "participations": _rows(
            session,
            select(m.Participation).where(
                in_events(m.Participation), m.Participation.site_id.in_(sites)
            ),
        ),
        "notices": _rows(
            session,
            select(m.Notice).where(
                in_events(m.Notice), m.Notice.customer_id.in_(customers)
            ),
        ),
        "device_commands": _rows(
            session,
            select(m.DeviceCommand).where(
                in_events(m.DeviceCommand), m.DeviceCommand.device_id.in_(devices)
            ),
        ),
        "overrides": _rows(
            session,
            select(m.Override).where(
                in_events(m.Override), m.Override.site_id.in_(sites)
            ),
        ),
        "safety_releases": _rows(
            session,
            select(m.SafetyRelease).where(
                in_events(m.SafetyRelease), m.SafetyRelease.device_id.in_(devices)
            ),
        ),
        "meter_days": _rows(
            session,
            select(m.MeterDay)
            .where(m.MeterDay.site_id.in_(sites))
            .order_by(m.MeterDay.site_id, m.MeterDay.day),
        ),
        "baselines": _rows(
            session,
            select(m.Baseline).where(
                in_events(m.Baseline), m.Baseline.site_id.in_(sites)
            ),
        ),
        "settlements": _rows(
            session,
            select(m.Settlement).where(
                in_events(m.Settlement), m.Settlement.customer_id.in_(customers)
            ),
        ),
        "statements": _rows(
            session,
            select(m.Statement).where(
                in_events(m.Statement), m.Statement.customer_id.in_(customers)
            ),
        ),
        "complaints": _rows(
            session, select(Complaint).where(Complaint.customer_id.in_(customers))
        ),
    }


def _audit_rows(session: Session, scope: Scope, records: dict[str, list]) -> list[dict]:
    if "customer" not in scope.description:
        condition = or_(
            AuditEntry.event_id.in_(scope.event_ids),
            AuditEntry.customer_id.in_(scope.customer_ids),
        )
    else:
        subjects = [f"site:{r['id']}" for r in records["sites"]]
        subjects += [f"device:{r['id']}" for r in records["devices"]]
        condition = or_(
            AuditEntry.customer_id.in_(scope.customer_ids),
            AuditEntry.subject.in_(subjects),
        )
    return _rows(session, select(AuditEntry).where(condition).order_by(AuditEntry.seq))


def _write(folder: Path, name: str, payload: bytes) -> dict[str, Any]:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(payload)
    return {
        "path": name,
        "sha256": hashlib.sha256(payload).hexdigest(),
        "bytes": len(payload),
    }


def export_bundle(
    session: Session,
    scope: Scope,
    output: Path,
    key: Ed25519PrivateKey,
    created_at: datetime | None = None,
) -> dict[str, Any]:
    """Write the bundle of ``scope`` to ``output`` and sign its manifest; return it.

    Raises
    ------
    InputError
        If ``output`` exists and is not an empty folder.
    """
    if output.exists() and any(output.iterdir()):
        raise InputError(
            f"output folder {output} is not empty: give a new folder",
            value=str(output),
            field="output",
        )
    output.mkdir(parents=True, exist_ok=True)
    records = _collect(session, scope)
    references = {c["id"]: c["reference"] for c in records["customers"]}
    files = []
    for statement in records["statements"]:
        # Each statement is stored once, as the HTML the customer received;
        # statements.json keeps its hash.
        html = statement.pop("html")
        reference = references[statement["customer_id"]]
        name = f"statements/E{statement['event_id']}-{reference}.html"
        files.append({**_write(output, name, html.encode("utf-8")), "records": 1})
    for name, rows in records.items():
        entry = _write(output, f"{name}.json", _dump(rows))
        files.append({**entry, "records": len(rows)})
    trail = _audit_rows(session, scope, records)
    lines = "".join(audit.canonical_json(row) + "\n" for row in trail)
    files.append(
        {**_write(output, "audit.jsonl", lines.encode()), "records": len(trail)}
    )
    head = audit.verify(session)
    manifest = {
        "format": BUNDLE_FORMAT,
        "created_at": audit.iso(created_at or datetime.now(UTC)),
        "scope": scope.description,
        "files": sorted(files, key=lambda f: f["path"]),
        "audit_chain": {
            "intact": head.intact,
            "rows": head.rows_checked,
            "head_seq": head.head_seq,
            "head_hash": head.head_hash,
        },
        "signing_key_sha256": signing.fingerprint(key.public_key()),
    }
    body = _dump(manifest)
    (output / MANIFEST).write_bytes(body)
    (output / SIGNATURE).write_bytes(base64.b64encode(key.sign(body)) + b"\n")
    (output / PUBLIC_KEY).write_bytes(signing.public_pem(key.public_key()))
    return manifest


def _dump(value: Any) -> bytes:
    return (
        json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    ).encode()


@dataclass(frozen=True)
class BundleCheck:
    """The result of checking a bundle offline; ``problems`` is empty when it holds."""

    fingerprint: str | None
    files_checked: int
    problems: list[str]

    @property
    def valid(self) -> bool:
        return not self.problems


def verify_bundle(folder: Path, public_key_pem: bytes | None = None) -> BundleCheck:
    """Check the manifest signature and every file's hash and size.

    With ``public_key_pem``, the signature is checked against that key (the one
    the aggregator filed); otherwise against the key in the bundle.
    """
    try:
        body = (folder / MANIFEST).read_bytes()
        signature = base64.b64decode((folder / SIGNATURE).read_bytes().strip())
        pem = public_key_pem or (folder / PUBLIC_KEY).read_bytes()
    except (OSError, ValueError) as exc:
        return BundleCheck(None, 0, [f"cannot read the bundle's manifest: {exc}"])
    key = signing.load_public_pem(pem)
    problems = []
    if not signing.verify_signature(key, signature, body):
        problems.append("the manifest signature does not verify with the key")
    manifest = json.loads(body)
    listed = {entry["path"] for entry in manifest["files"]}
    for entry in manifest["files"]:
        path = folder / entry["path"]
        if not path.is_file():
            problems.append(f"{entry['path']} is missing")
            continue
        payload = path.read_bytes()
        if hashlib.sha256(payload).hexdigest() != entry["sha256"]:
            problems.append(f"{entry['path']} does not match its SHA-256")
    extra = {
        str(p.relative_to(folder))
        for p in folder.rglob("*")
        if p.is_file() and p.name not in {MANIFEST, SIGNATURE, PUBLIC_KEY}
    } - listed
    problems.extend(f"{name} is not in the manifest" for name in sorted(extra))
    return BundleCheck(signing.fingerprint(key), len(listed), problems)
