"""The claims registry and versioned material: register, review, publish, withdraw.

Functions take the caller's session; run them inside
:func:`coflex.adapters.store.database.transaction`, so a rejected action
stores nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from coflex.adapters.store.models_enrollment import ClaimRecord, Material, MaterialClaim
from coflex.domain.enrollment.claims import (
    Claim,
    ClaimKind,
    check_publishable,
    content_hash,
    default_expiry,
)
from coflex.errors import InputError, NotFoundError, TransitionError

logger = logging.getLogger(__name__)

MATERIAL_KINDS = ("advert", "script", "web_page")


def register_claim(
    session: Session,
    *,
    statement: str,
    kind: ClaimKind,
    value: float,
    unit: str,
    source: str,
    method: str,
    assumptions: str,
    population: str,
    as_of: date,
    at: datetime,
    risk_statement: str | None = None,
    expires_on: date | None = None,
) -> int:
    """Store a claim, unreviewed; return its id. Expiry defaults to 12 months."""
    row = ClaimRecord(
        statement=statement,
        kind=kind.value,
        value=value,
        unit=unit,
        source=source,
        method=method,
        assumptions=assumptions,
        population=population,
        as_of=as_of,
        expires_on=expires_on or default_expiry(as_of),
        risk_statement=risk_statement,
        created_at=at,
    )
    session.add(row)
    session.flush()
    return row.id


def _claim_row(session: Session, claim_id: int) -> ClaimRecord:
    row = session.get(ClaimRecord, claim_id)
    if row is None:
        raise NotFoundError(
            f"claim {claim_id} not found: register it with `coflex claims add`",
            value=claim_id,
            field="claim_id",
        )
    return row


def review_claim(session: Session, claim_id: int, reviewer: str, at: datetime) -> None:
    """Record a reviewer's sign-off of a claim."""
    if not reviewer.strip():
        raise InputError("a review needs the reviewer's name", field="reviewer")
    row = _claim_row(session, claim_id)
    row.reviewer = reviewer
    row.reviewed_at = at


def to_claim(row: ClaimRecord) -> Claim:
    return Claim(
        id=row.id,
        statement=row.statement,
        kind=ClaimKind(row.kind),
        value=row.value,
        unit=row.unit,
        source=row.source,
        method=row.method,
        assumptions=row.assumptions,
        population=row.population,
        as_of=row.as_of,
        expires_on=row.expires_on,
        risk_statement=row.risk_statement,
        reviewer=row.reviewer,
        reviewed_at=row.reviewed_at,
        withdrawn_at=row.withdrawn_at,
    )


def add_material(
    session: Session,
    name: str,
    kind: str,
    body: str,
    claim_ids: Sequence[int],
    at: datetime,
) -> int:
    """Store a new draft version of a material using ``claim_ids``; return its id."""
    if kind not in MATERIAL_KINDS:
        raise InputError(
            f"unknown material kind {kind!r}: use one of {MATERIAL_KINDS}",
            value=kind,
            field="kind",
        )
    for claim_id in claim_ids:
        _claim_row(session, claim_id)
    latest = session.scalar(
        select(func.max(Material.version)).where(Material.name == name)
    )
    row = Material(
        name=name,
        kind=kind,
        version=(latest or 0) + 1,
        body=body,
        content_hash=content_hash(body),
        status="draft",
        created_at=at,
    )
    session.add(row)
    session.flush()
    session.add_all(MaterialClaim(material_id=row.id, claim_id=c) for c in claim_ids)
    return row.id


def _material(session: Session, material_id: int) -> Material:
    row = session.get(Material, material_id)
    if row is None:
        raise NotFoundError(
            f"material {material_id} not found: add it with "
            "`coflex claims material-add`",
            value=material_id,
            field="material_id",
        )
    return row


def publish_material(session: Session, material_id: int, at: datetime) -> str:
    """Publish a draft material version; return its content hash.

    Raises
    ------
    ClaimError
        If any claim it uses is unsourced, unreviewed, expired, withdrawn or
        lacks its revenue-risk statement.
    """
    row = _material(session, material_id)
    if row.status != "draft":
        raise TransitionError(
            f"material {material_id} is {row.status}: only a draft is published; "
            "add a new version instead",
            value=row.status,
            field="status",
        )
    claims = session.scalars(
        select(ClaimRecord)
        .join(MaterialClaim, MaterialClaim.claim_id == ClaimRecord.id)
        .where(MaterialClaim.material_id == material_id)
        .order_by(ClaimRecord.id)
    ).all()
    check_publishable(
        f"{row.name} v{row.version}", [to_claim(c) for c in claims], at.date()
    )
    row.status = "published"
    row.published_at = at
    logger.info("material %s published", material_id)
    return row.content_hash


def withdraw_claim(
    session: Session, claim_id: int, at: datetime, reason: str
) -> list[int]:
    """Withdraw a claim and every published material that uses it.

    Returns the ids of the materials withdrawn.
    """
    row = _claim_row(session, claim_id)
    row.withdrawn_at = at
    row.withdrawn_reason = reason[:300]
    materials = session.scalars(
        select(Material)
        .join(MaterialClaim, MaterialClaim.material_id == Material.id)
        .where(MaterialClaim.claim_id == claim_id, Material.status != "withdrawn")
    ).all()
    for material in materials:
        material.status = "withdrawn"
        material.withdrawn_at = at
        material.withdrawn_reason = f"claim {claim_id} withdrawn: {reason}"[:300]
    logger.info("claim %s withdrawn with %d materials", claim_id, len(materials))
    return [m.id for m in materials]
