"""Customers' requests to correct or delete their personal data.

Corrections are recorded in the audit log with keyed hashes (HMAC-SHA256
under the data lookup key) of the value before and after, never the values,
so the log proves what changed without holding personal data.

Deletion erases what no rule requires coflex to keep and anonymises the rest.
Records that retention rules keep (contracts, statements, settlements while
their retention period runs, and everything under a legal hold) stay, with
the customer's name, contacts and address replaced by a pseudonymous id.
Deletion is refused while an event that involves the customer is planned,
notified or running, because its notices, overrides and settlement still
need the customer's contact details.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import zlib
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from coflex.adapters.store import crypto
from coflex.adapters.store.models import (
    Consent,
    Contract,
    Customer,
    Event,
    MeterDay,
    Notice,
    Participation,
    Site,
    Statement,
)
from coflex.adapters.store.models_enrollment import (
    ContractAcceptance,
    ContractTermination,
    ContractTransition,
    EnrollmentDocument,
)
from coflex.adapters.store.models_governance import (
    Complaint,
    ComplaintReminder,
    PrivacyRequest,
)
from coflex.adapters.store.models_operations import AutomationDocument
from coflex.adapters.store.models_web import Account, ApiToken, BrowserSession
from coflex.errors import InputError, RuleViolation
from coflex.services import audit, records, records_purge

logger = logging.getLogger(__name__)

CORRECTABLE = ("name", "email", "phone", "postal_address")
# Event statuses during which the customer's contact details are still needed.
ACTIVE_EVENT_STATUSES = ("planned", "notified", "running")
ERASED_NOTICE = "[text erased at the customer's request]"
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE = re.compile(r"^\+?[0-9][0-9 ()./-]{5,30}$")
_MAX_LENGTH = {"name": 200, "email": 200, "phone": 32, "postal_address": 500}


class DeletionBlocked(RuleViolation):
    """Deletion is refused while an event involving the customer is under way."""

    code = "deletion_blocked_by_event"


def keyed_hash(field_name: str, value: str | None) -> str | None:
    """Return the HMAC-SHA256 of a field's value under the data lookup key.

    NOTE: the lookup key changes with each key rotation, so hashes recorded
    before a rotation cannot be recomputed for comparison afterwards.
    """
    if value is None:
        return None
    key = crypto.load_keyring().lookup_key
    message = f"{field_name}\x00{value}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def pseudonym(customer: Customer) -> str:
    """Return the pseudonymous id that replaces the customer's name."""
    return f"pseudonym-{keyed_hash('pseudonym', str(customer.id))[:16]}"  # type: ignore[index]


def _clean(field_name: str, value: str | None) -> str | None:
    if field_name not in CORRECTABLE:
        raise InputError(
            f"unknown field {field_name!r}: correct one of {', '.join(CORRECTABLE)}",
            value=field_name,
            field="field",
        )
    value = None if value is None else value.strip()
    if not value:
        if field_name == "name":
            raise InputError("a name cannot be empty: give the name", field="name")
        return None
    if len(value) > _MAX_LENGTH[field_name]:
        raise InputError(
            f"{field_name} of {len(value)} characters is too long: use at most "
            f"{_MAX_LENGTH[field_name]}",
            field=field_name,
        )
    if field_name == "email" and not _EMAIL.match(value):
        raise InputError(
            "the email address is not valid: give one such as name@example.org",
            field="email",
        )
    if field_name == "phone" and not _PHONE.match(value):
        raise InputError(
            "the phone number is not valid: give digits, spaces and an optional "
            "leading +, such as +1 336 555 0100",
            field="phone",
        )
    return value


def correct(
    session: Session,
    customer: Customer,
    changes: dict[str, str | None],
    *,
    actor: str,
    at: datetime,
) -> list[str]:
    """Apply corrections to the customer's personal data; return the fields changed.

    Raises
    ------
    InputError
        If a field is unknown or a value invalid, or nothing would change.
    """
    cleaned = {name: _clean(name, value) for name, value in changes.items()}
    changed = {n: v for n, v in cleaned.items() if getattr(customer, n) != v}
    if not changed:
        raise InputError(
            "the correction changes nothing: the stored values are the same",
            field=next(iter(changes), None),
        )
    # Notices go to the preferred channel, so its contact cannot be erased.
    for name, channel in (("email", "email"), ("phone", "sms")):
        if name in changed and changed[name] is None and customer.preferred_channel == channel:
            raise InputError(
                f"the {name} is the contact of the preferred channel {channel}: "
                "give a new one instead of erasing it, or change the preferred "
                "channel first",
                field=name,
            )
    # Field names go in values, not keys: the compliance check flags audit
    # rows whose keys name personal data.
    details = {
        "changes": [
            {
                "field": name,
                "before_hmac": keyed_hash(name, getattr(customer, name)),
                "after_hmac": keyed_hash(name, value),
            }
            for name, value in sorted(changed.items())
        ]
    }
    for name, value in changed.items():
        setattr(customer, name, value)
    if "name" in changed:
        for account in session.scalars(
            select(Account).where(Account.customer_id == customer.id)
        ):
            account.display_name = changed["name"]  # type: ignore[assignment]

    fields = sorted(changed)
    _record_request(session, customer, "correct", at, f"corrected {', '.join(fields)}")
    audit.append(
        session,
        [
            audit.AuditRecord(
                at=at,
                action="personal_data_corrected",
                subject=f"customer:{customer.id}",
                details=details,
                actor=actor[:64],
                customer_id=customer.id,
            )
        ],
    )
    logger.info("customer %s corrected %s", customer.id, ", ".join(fields))
    return fields


def _record_request(
    session: Session, customer: Customer, kind: str, at: datetime, outcome: str
) -> None:
    session.add(
        PrivacyRequest(
            customer_id=customer.id,
            kind=kind,
            received_at=at,
            completed_at=at,
            outcome=outcome[:300],
        )
    )


# -- deletion --------------------------------------------------------------------


@dataclass
class DeletionResult:
    """The outcome of a deletion: kinds erased with row counts, kinds kept and why."""

    customer_reference: str
    pseudonym: str
    erased: dict[str, int] = field(default_factory=dict)
    kept: dict[str, str] = field(default_factory=dict)


def _active_events(session: Session, customer: Customer) -> list[Event]:
    sites = select(Site.id).where(Site.customer_id == customer.id)
    return list(
        session.scalars(
            select(Event)
            .where(
                Event.status.in_(ACTIVE_EVENT_STATUSES),
                or_(
                    Event.id.in_(
                        select(Participation.event_id).where(
                            Participation.site_id.in_(sites)
                        )
                    ),
                    Event.id.in_(
                        select(Notice.event_id).where(Notice.customer_id == customer.id)
                    ),
                ),
            )
            .order_by(Event.start)
        )
    )


def _retention(session: Session, customer: Customer, at: datetime) -> tuple[bool, str]:
    """Tell whether retention rules keep the customer's records, and why."""
    item = next(
        r
        for r in records.retention_schedule(session, at)
        if r.customer_id == customer.id
    )
    if item.held:
        return True, "under a legal hold"
    has_contract = session.scalar(
        select(Contract.id).where(Contract.customer_id == customer.id).limit(1)
    )
    if has_contract is None:
        return False, "no contract"
    if item.retain_until is None:
        return True, "a contract is still in force"
    if item.retain_until > at:
        return True, f"retention period runs until {item.retain_until.date()}"
    return False, "retention period ended"


def delete_customer(
    session: Session, customer: Customer, *, actor: str, at: datetime
) -> DeletionResult:
    """Erase or anonymise the customer's personal data on their request.

    Raises
    ------
    DeletionBlocked
        If an event that involves the customer is planned, notified or running.
    """
    active = _active_events(session, customer)
    if active:
        event = active[0]
        raise DeletionBlocked(
            f"customer {customer.reference} takes part in event {event.id} "
            f"({event.status}, ending {event.end.isoformat()}): ask again after "
            "the event ends, or override it first",
            value=customer.reference,
            field="customer",
        )

    retained, reason = _retention(session, customer, at)
    plain = [v for v in (customer.name, customer.email, customer.phone) if v]
    plain += [customer.postal_address] if customer.postal_address else []
    result = DeletionResult(customer.reference, pseudonym(customer))
    held = reason == "under a legal hold"
    if not retained:
        result.erased.update(records_purge.purge_customer(session, customer.id, at))
    elif not held:
        result.erased.update(_erase_unretained(session, customer, at))
    _anonymise(session, customer, plain, result.pseudonym, at)
    if retained:
        for kind in ("contracts", "statements", "settlements", "documents"):
            result.kept[kind] = f"kept anonymised as {result.pseudonym}: {reason}"
        if held:
            result.kept["all other records"] = f"kept anonymised: {reason}"
    else:
        result.kept["contracts and settlements"] = (
            f"kept by id only, anonymised as {result.pseudonym}"
        )
    result.kept["audit log"] = "kept: it holds ids and hashes, no personal data"

    _record_request(
        session,
        customer,
        "delete",
        at,
        f"erased {sum(result.erased.values())} rows; {reason}",
    )
    audit.append(
        session,
        [
            audit.AuditRecord(
                at=at,
                action="personal_data_deleted",
                subject=f"customer:{customer.id}",
                details={
                    "erased": result.erased,
                    "retained": retained,
                    "reason": reason,
                },
                actor=actor[:64],
                customer_id=customer.id,
            )
        ],
    )
    logger.info("customer %s personal data deleted (%s)", customer.id, reason)
    return result


def _erase_unretained(
    session: Session, customer: Customer, at: datetime
) -> dict[str, int]:
    """Erase what retention does not keep: meter data, notice texts, complaints.

    Consents stay as the record of what the customer agreed to, revoked at ``at``.
    """
    sites = select(Site.id).where(Site.customer_id == customer.id)
    complaints = select(Complaint.id).where(Complaint.customer_id == customer.id)
    counts = {}
    counts["meter_days"] = session.execute(
        delete(MeterDay).where(MeterDay.site_id.in_(sites))
    ).rowcount
    counts["complaint_reminders"] = session.execute(
        delete(ComplaintReminder).where(ComplaintReminder.complaint_id.in_(complaints))
    ).rowcount
    counts["complaints"] = session.execute(
        delete(Complaint).where(Complaint.customer_id == customer.id)
    ).rowcount
    # The notice rows stay as the record that notice was given; the audit log
    # keeps the SHA-256 of each text as sent.
    counts["notice_texts"] = session.execute(
        update(Notice)
        .where(Notice.customer_id == customer.id)
        .values(body=ERASED_NOTICE)
    ).rowcount
    counts["consents_revoked"] = session.execute(
        update(Consent)
        .where(Consent.customer_id == customer.id, Consent.revoked_at.is_(None))
        .values(revoked_at=at)
    ).rowcount
    return {k: int(v or 0) for k, v in counts.items()}


def _redact(text: str, plain: list[str], replacement: str) -> str:
    for value in sorted(plain, key=len, reverse=True):
        text = text.replace(value, replacement)
    return text


def _anonymise(
    session: Session, customer: Customer, plain: list[str], alias: str, at: datetime
) -> None:
    """Replace the customer's identity with ``alias`` in the customer, contract,
    statement, document, site and account rows.

    NOTE: notice texts and complaint summaries kept under a legal hold are left
    as they are, because the hold preserves them as evidence.
    """
    customer.name = alias
    customer.email = None
    customer.phone = None
    customer.postal_address = None

    contracts = select(Contract.id).where(Contract.customer_id == customer.id)
    for row in session.scalars(
        select(ContractAcceptance).where(ContractAcceptance.contract_id.in_(contracts))
    ):
        row.accepted_by, row.ip_address, row.user_agent = alias, None, None
    for row in session.scalars(
        select(ContractTermination).where(
            ContractTermination.contract_id.in_(contracts)
        )
    ):
        row.requested_by = alias
    for row in session.scalars(
        select(ContractTransition).where(ContractTransition.contract_id.in_(contracts))
    ):
        row.actor = _redact(row.actor, plain, alias)

    # Retained documents keep their layout with the identity replaced; their
    # SHA-256 as issued stays in the documents table and the audit log.
    for statement in session.scalars(
        select(Statement).where(Statement.customer_id == customer.id)
    ):
        statement.html = _redact(statement.html, plain, alias)
    for document in session.scalars(
        select(AutomationDocument).where(AutomationDocument.customer_id == customer.id)
    ):
        document.html = _redact(document.html, plain, alias)
    for enrollment in session.scalars(
        select(EnrollmentDocument).where(EnrollmentDocument.customer_id == customer.id)
    ):
        body = zlib.decompress(enrollment.body_zlib).decode("utf-8")
        enrollment.body_zlib = zlib.compress(_redact(body, plain, alias).encode())

    for site in session.scalars(select(Site).where(Site.customer_id == customer.id)):
        site.latitude = round(site.latitude, 1)
        site.longitude = round(site.longitude, 1)
    _close_accounts(session, customer, alias, at)


def _close_accounts(
    session: Session, customer: Customer, alias: str, at: datetime
) -> None:
    accounts = list(
        session.scalars(select(Account).where(Account.customer_id == customer.id))
    )
    for number, account in enumerate(accounts, start=1):
        account.display_name = alias
        account.username = f"{alias}-{number}"
        account.password_hash = None
        account.disabled_at = account.disabled_at or at
    ids = [a.id for a in accounts]
    if ids:
        session.execute(
            delete(BrowserSession).where(BrowserSession.account_id.in_(ids))
        )
        session.execute(delete(ApiToken).where(ApiToken.account_id.in_(ids)))
