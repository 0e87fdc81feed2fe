"""Sales representatives, their training, contact flags and recorded interactions.

Functions take the caller's session; run them inside
:func:`coflex.adapters.store.database.transaction`, so a rejected action
stores nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from coflex.adapters.store.models import Aggregator, Customer, Site
from coflex.adapters.store.models_enrollment import (
    ContactFlag,
    Material,
    SalesInteraction,
    SalesRepresentative,
    SalesTraining,
)
from coflex.adapters.store.models_web import Account
from coflex.domain.enrollment.sales import (
    CHANNELS,
    Representative,
    Training,
    check_contact_allowed,
    check_trained,
)
from coflex.errors import InputError, NotFoundError, SalesRuleError
from coflex.services import accounts, audit

logger = logging.getLogger(__name__)


def add_representative(
    session: Session,
    name: str,
    employer: str,
    third_party: bool,
    at: datetime,
    *,
    aggregator_id: int,
    username: str,
    agreement_ref: str | None = None,
) -> int:
    """Store a sales representative and their user account; return the rep's id.

    Staff and third-party sellers alike are users: each gets an account with
    the sales_representative role for ``aggregator_id``, which signs in with
    API tokens until a password is set. A third party also needs the
    reference of the agreement under which it sells on the aggregator's
    behalf, because the aggregator is responsible for what it does.

    Raises
    ------
    InputError
        If a third party has no agreement reference or the aggregator is
        unknown.
    """
    if third_party and not (agreement_ref or "").strip():
        raise InputError(
            f"third-party representative {name!r} of {employer!r} needs the "
            "reference of the agreement under which they sell for the "
            "aggregator: give agreement_ref",
            value=name,
            field="agreement_ref",
        )
    if session.get(Aggregator, aggregator_id) is None:
        raise NotFoundError(
            f"aggregator {aggregator_id} not found: give the id of the aggregator "
            "the representative sells for",
            value=aggregator_id,
            field="aggregator_id",
        )
    if session.scalar(select(Account.id).where(Account.username == username)):
        raise InputError(
            f"username {username!r} is taken: choose another for {name}",
            value=username,
            field="username",
        )
    account = accounts.create_account(
        session,
        username,
        accounts.Role.SALES_REPRESENTATIVE,
        f"{name} ({employer})",
        None,
        now=at,
        aggregator_id=aggregator_id,
    )
    row = SalesRepresentative(
        name=name,
        employer=employer,
        third_party=third_party,
        created_at=at,
        account_id=account.id,
        agreement_ref=(agreement_ref or "").strip()[:200] or None,
    )
    session.add(row)
    session.flush()
    audit.append(
        session,
        [
            audit.AuditRecord(
                at=at,
                action="sales_representative_added",
                subject=f"sales_representative:{row.id}",
                details={
                    "account_id": account.id,
                    "third_party": third_party,
                    "agreement_ref": row.agreement_ref,
                },
            )
        ],
    )
    return row.id


def record_training(
    session: Session,
    representative_id: int,
    course: str,
    completed_at: datetime,
    expires_at: datetime,
    certified_by: str,
) -> int:
    """Store a completed training; return its id."""
    if expires_at <= completed_at:
        raise InputError(
            f"training expiry {expires_at.isoformat()} is not after its completion: "
            "give a later expiry",
            value=expires_at.isoformat(),
            field="expires_at",
        )
    _rep_row(session, representative_id)
    row = SalesTraining(
        representative_id=representative_id,
        course=course,
        completed_at=completed_at,
        expires_at=expires_at,
        certified_by=certified_by,
    )
    session.add(row)
    session.flush()
    return row.id


def _rep_row(session: Session, representative_id: int) -> SalesRepresentative:
    row = session.get(SalesRepresentative, representative_id)
    if row is None:
        raise NotFoundError(
            f"representative {representative_id} not found: add them with "
            "`coflex sales rep-add`",
            value=representative_id,
            field="representative_id",
        )
    return row


def load_representative(session: Session, representative_id: int) -> Representative:
    row = _rep_row(session, representative_id)
    trainings = session.scalars(
        select(SalesTraining).where(SalesTraining.representative_id == row.id)
    ).all()
    return Representative(
        row.id,
        row.name,
        row.employer,
        row.third_party,
        tuple(Training(t.course, t.completed_at, t.expires_at) for t in trainings),
    )


def flag_do_not_contact(
    session: Session, customer_id: int, at: datetime, reason: str
) -> None:
    """Record a customer's request not to be contacted for sales."""
    if session.get(Customer, customer_id) is None:
        raise NotFoundError(f"customer {customer_id} not found", value=customer_id)
    session.add(ContactFlag(customer_id=customer_id, set_at=at, reason=reason[:300]))
    audit.append(
        session,
        [
            audit.AuditRecord(
                at=at,
                action="do_not_contact_flagged",
                subject=f"customer:{customer_id}",
                customer_id=customer_id,
            )
        ],
    )


def _do_not_contact(session: Session, customer_id: int, at: datetime) -> bool:
    return (
        session.scalar(
            select(ContactFlag.id).where(
                ContactFlag.customer_id == customer_id,
                ContactFlag.set_at <= at,
                (ContactFlag.cleared_at.is_(None)) | (ContactFlag.cleared_at > at),
            )
        )
        is not None
    )


@dataclass(frozen=True)
class Interaction:
    representative_id: int
    customer_id: int
    channel: str
    at: datetime
    told: str
    answered: str
    material_id: int | None = None
    sale: bool = False


def record_interaction(session: Session, interaction: Interaction) -> int:
    """Check the sales rules and store one contact with a customer; return its id.

    Raises
    ------
    SalesRuleError
        If the representative is untrained (for a sale), the customer asked not
        to be contacted, the time is outside the permitted hours, or the
        material shown is not published.
    """
    i = interaction
    if i.channel not in CHANNELS:
        raise InputError(
            f"unknown channel {i.channel!r}: use one of {CHANNELS}",
            value=i.channel,
            field="channel",
        )
    rep = load_representative(session, i.representative_id)
    customer = session.get(Customer, i.customer_id)
    if customer is None:
        raise NotFoundError(f"customer {i.customer_id} not found", value=i.customer_id)
    _check_user(session, i.representative_id, customer.aggregator_id, i.at)
    if i.sale:
        check_trained(rep, i.at)
    jurisdiction = session.get(Aggregator, customer.aggregator_id).jurisdiction  # type: ignore[union-attr]
    timezone = session.scalar(
        select(Site.timezone).where(Site.customer_id == customer.id)
    )
    check_contact_allowed(
        i.at,
        jurisdiction,
        timezone or "UTC",
        _do_not_contact(session, customer.id, i.at),
    )
    material_hash = _shown_material(session, i.material_id)
    row = SalesInteraction(
        representative_id=i.representative_id,
        customer_id=i.customer_id,
        channel=i.channel,
        at=i.at,
        material_id=i.material_id,
        material_hash=material_hash,
        told=i.told,
        answered=i.answered,
        sale=i.sale,
    )
    session.add(row)
    session.flush()
    audit.append(
        session,
        [
            audit.AuditRecord(
                at=i.at,
                action="sales_interaction_recorded",
                subject=f"sales_interaction:{row.id}",
                details={
                    "representative_id": rep.id,
                    "third_party": rep.third_party,
                    "channel": i.channel,
                    "material_hash": material_hash,
                    "sale": i.sale,
                },
                actor=f"sales_representative:{rep.id}",
                customer_id=customer.id,
            )
        ],
    )
    return row.id


def _check_user(
    session: Session, representative_id: int, aggregator_id: int, at: datetime
) -> None:
    """Raise unless the representative is an enabled user of the customer's aggregator.

    Raises
    ------
    SalesRuleError
        If the representative has no account, it is disabled, or it acts for
        another aggregator.
    """
    rep = _rep_row(session, representative_id)
    account = session.get(Account, rep.account_id) if rep.account_id else None
    if account is None:
        raise SalesRuleError(
            f"representative {rep.id} ({rep.name}) has no user account: add them "
            "again with `coflex sales rep-add`, which creates one",
            value=rep.id,
            field="representative",
        )
    if account.disabled_at is not None and account.disabled_at <= at:
        raise SalesRuleError(
            f"representative {rep.id} ({rep.name}) has a disabled account since "
            f"{account.disabled_at.isoformat()}: they may not contact customers",
            value=rep.id,
            field="representative",
        )
    if account.aggregator_id != aggregator_id:
        raise SalesRuleError(
            f"representative {rep.id} ({rep.name}) sells for aggregator "
            f"{account.aggregator_id}, not for the customer's aggregator "
            f"{aggregator_id}: record the contact under that aggregator's "
            "representative",
            value=rep.id,
            field="representative",
        )


def _shown_material(session: Session, material_id: int | None) -> str | None:
    if material_id is None:
        return None
    material = session.get(Material, material_id)
    if material is None or material.status != "published":
        status = material.status if material else "missing"
        raise SalesRuleError(
            f"material {material_id} is {status}: show only published material",
            value=material_id,
            field="material_id",
        )
    return material.content_hash
