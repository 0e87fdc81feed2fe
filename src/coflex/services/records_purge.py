"""The purge of one customer's personal records, table by table.

Every table that contains a record kind kept under the Code is listed in
:data:`coflex.domain.administration.retention.RECORD_KINDS` with what the
purge does to it. This module carries that out in one
transaction and returns the number of rows each step touched, which goes
into the purge report and the ``records_purged`` audit row.
"""

from __future__ import annotations

import zlib
from datetime import datetime

from sqlalchemy import Delete, Update, delete, select, update
from sqlalchemy.orm import Session

from coflex.adapters.store.models import (
    Baseline,
    Consent,
    Contract,
    Customer,
    MeterDay,
    Notice,
    Site,
    Statement,
)
from coflex.adapters.store.models_enrollment import (
    ContactFlag,
    ContractAcceptance,
    ContractTermination,
    DualEnrollmentFlag,
    EnrollmentDocument,
    OtherEnrollmentDeclaration,
    SalesInteraction,
    SiteServicePoint,
)
from coflex.adapters.store.models_governance import (
    Complaint,
    ComplaintReminder,
    PrivacyRequest,
)
from coflex.adapters.store.models_operations import AutomationDocument
from coflex.adapters.store.models_web import Account, ApiToken, BrowserSession

PURGED_NAME = "(purged)"
# The stored body of an erased document. Its row and SHA-256 stay as evidence
# that the document was issued, but the text with names and addresses goes.
ERASED_BODY = zlib.compress(b"")


def _steps(customer_id: int) -> list[tuple[str, Delete | Update]]:
    sites = select(Site.id).where(Site.customer_id == customer_id)
    contracts = select(Contract.id).where(Contract.customer_id == customer_id)
    complaints = select(Complaint.id).where(Complaint.customer_id == customer_id)
    accounts = select(Account.id).where(Account.customer_id == customer_id)
    by_customer = [
        ("complaints", Complaint),
        ("notices", Notice),
        ("statements", Statement),
        ("consents", Consent),
        ("privacy_requests", PrivacyRequest),
        ("sales_interactions", SalesInteraction),
        ("contact_flags", ContactFlag),
        ("automation_documents", AutomationDocument),
    ]
    # Complaints point at statements and baselines, so they go first.
    return [
        (
            "complaint_reminders",
            delete(ComplaintReminder).where(
                ComplaintReminder.complaint_id.in_(complaints)
            ),
        ),
        *[
            (name, delete(model).where(model.customer_id == customer_id))
            for name, model in by_customer
        ],
        *[
            (name, delete(model).where(model.site_id.in_(sites)))
            for name, model in (
                ("baselines", Baseline),
                ("meter_days", MeterDay),
                ("dual_enrollment_flags", DualEnrollmentFlag),
                ("other_enrollment_declarations", OtherEnrollmentDeclaration),
                ("site_service_points", SiteServicePoint),
            )
        ],
        (
            "browser_sessions",
            delete(BrowserSession).where(BrowserSession.account_id.in_(accounts)),
        ),
        ("api_tokens", delete(ApiToken).where(ApiToken.account_id.in_(accounts))),
        (
            "enrollment_documents",
            update(EnrollmentDocument)
            .where(EnrollmentDocument.customer_id == customer_id)
            .values(body_zlib=ERASED_BODY, details=None),
        ),
        (
            "contract_acceptances",
            update(ContractAcceptance)
            .where(ContractAcceptance.contract_id.in_(contracts))
            .values(
                accepted_by=PURGED_NAME,
                ip_address=None,
                user_agent=None,
                recording_ref=None,
            ),
        ),
        (
            "contract_terminations",
            update(ContractTermination)
            .where(ContractTermination.contract_id.in_(contracts))
            .values(requested_by=PURGED_NAME, reason=PURGED_NAME),
        ),
    ]


def purge_customer(session: Session, customer_id: int, at: datetime) -> dict[str, int]:
    """Delete or erase one customer's personal records; return rows per table.

    Contracts, offers, transitions, amendments, device commands, vetoes,
    overrides and settlements stay: they hold ids, times, terms and amounts,
    and the audit log refers to them.
    """
    counts: dict[str, int] = {}
    for name, statement in _steps(customer_id):
        counts[name] = int(session.execute(statement).rowcount or 0)
    counts["accounts"] = _erase_accounts(session, customer_id, at)
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
    sites = session.scalars(select(Site).where(Site.customer_id == customer_id))
    counts["sites"] = 0
    for site in sites:
        site.latitude = round(site.latitude, 1)
        site.longitude = round(site.longitude, 1)
        counts["sites"] += 1
    return counts


def _erase_accounts(session: Session, customer_id: int, at: datetime) -> int:
    rows = session.scalars(select(Account).where(Account.customer_id == customer_id))
    count = 0
    for account in rows:
        # The username may be an email address; the id keeps it unique.
        account.username = f"purged-{account.id}"
        account.display_name = PURGED_NAME
        account.password_hash = None
        account.disabled_at = account.disabled_at or at
        count += 1
    return count
