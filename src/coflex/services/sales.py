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
from coflex.domain.enrollment.sales import (
    CHANNELS,
    Representative,
    Training,
    check_contact_allowed,
    check_trained,
)
from coflex.errors import InputError, NotFoundError, SalesRuleError

logger = logging.getLogger(__name__)


def add_representative(
    session: Session, name: str, employer: str, third_party: bool, at: datetime
) -> int:
    """Store a sales representative, staff or third party; return the id."""
    row = SalesRepresentative(
        name=name, employer=employer, third_party=third_party, created_at=at
    )
    session.add(row)
    session.flush()
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
    session.add(ContactFlag(customer_id=customer_id, set_at=at, reason=reason[:300]))


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
    if i.sale:
        check_trained(rep, i.at)
    customer = session.get(Customer, i.customer_id)
    if customer is None:
        raise NotFoundError(f"customer {i.customer_id} not found", value=i.customer_id)
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
    return row.id


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
