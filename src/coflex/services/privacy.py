"""The consent ledger: grant, revoke and list consents per purpose, each audited."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from coflex.adapters.store.models import Consent
from coflex.domain.administration.privacy import Purpose, is_live, parse_purpose
from coflex.errors import InputError, NotFoundError
from coflex.services import audit
from coflex.services.complaints import customer_by_reference


@dataclass(frozen=True)
class Grant:
    customer_ref: str
    purpose: str
    scope: str
    channel: str
    granted_at: datetime
    expires_at: datetime | None = None
    recipient: str | None = None


def _audit(session: Session, consent: Consent, action: str, at: datetime) -> None:
    audit.append(
        session,
        [
            audit.AuditRecord(
                at=at,
                action=action,
                subject=f"consent:{consent.id}",
                details={
                    "purpose": consent.purpose,
                    "recipient": consent.recipient,
                    "expires_at": audit.iso(consent.expires_at),
                },
                customer_id=consent.customer_id,
            )
        ],
    )


def grant_consent(session: Session, grant: Grant) -> Consent:
    """Record a consent for one purpose.

    Raises
    ------
    InputError
        If the purpose is undefined, the expiry is not after the grant, or a
        sharing consent names no recipient.
    NotFoundError
        If the customer does not exist.
    """
    purpose = parse_purpose(grant.purpose)
    if grant.expires_at is not None and grant.expires_at <= grant.granted_at:
        raise InputError(
            f"consent expiry {grant.expires_at.isoformat()} is not after its grant: "
            "give a later expiry or none",
            value=grant.expires_at,
            field="expires_at",
        )
    if purpose is Purpose.SHARING and not grant.recipient:
        raise InputError(
            "a consent to share data names its recipient: give the utility or ISO",
            field="recipient",
        )
    customer = customer_by_reference(session, grant.customer_ref)
    consent = Consent(
        customer_id=customer.id,
        purpose=purpose.value,
        scope=grant.scope,
        channel=grant.channel,
        granted_at=grant.granted_at,
        expires_at=grant.expires_at,
        revoked_at=None,
        recipient=grant.recipient,
    )
    session.add(consent)
    session.flush()
    _audit(session, consent, "consent_granted", grant.granted_at)
    return consent


def revoke_consent(
    session: Session, customer_ref: str, purpose: str, at: datetime
) -> list[int]:
    """Revoke every live consent of the customer for ``purpose``; return their ids."""
    parsed = parse_purpose(purpose)
    customer = customer_by_reference(session, customer_ref)
    revoked = []
    for consent in ledger(session, customer_ref):
        if consent.purpose == parsed.value and is_live(
            consent.granted_at, consent.expires_at, consent.revoked_at, at
        ):
            consent.revoked_at = at
            _audit(session, consent, "consent_revoked", at)
            revoked.append(consent.id)
    if not revoked:
        raise NotFoundError(
            f"customer {customer.reference} has no live {parsed.value} consent at "
            f"{at.isoformat()}: nothing to revoke",
            value=purpose,
            field="purpose",
        )
    return revoked


def ledger(session: Session, customer_ref: str) -> list[Consent]:
    """Return every consent of the customer, oldest first."""
    customer = customer_by_reference(session, customer_ref)
    return list(
        session.scalars(
            select(Consent)
            .where(Consent.customer_id == customer.id)
            .order_by(Consent.granted_at, Consent.id)
        )
    )
