"""Competition use cases: device release at exit and the dual-enrollment check.

At exit, :func:`release_devices` revokes the control consent. It disables the
device accounts through which this aggregator commands the customer's devices
and revokes their API tokens and browser sessions. It records the message
given to the customer: the devices stay theirs, controllable by them and by
other providers.

A site is checked against its customer's declarations of other enrollments
and, by its utility service-point id, against the contracts of other
aggregators in the same store. Each conflict for the same grid service becomes
a dual-enrollment flag; a flagged site is held back from dispatch (see
:mod:`coflex.services.contract_guard`) until an operator resolves the flag.

Functions take the caller's session; run them inside
:func:`coflex.adapters.store.database.transaction`, so a rejected action
stores nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from coflex.adapters.store.models import (
    Aggregator,
    Consent,
    Contract,
    Customer,
    Device,
    Program,
    Site,
)
from coflex.adapters.store.models_enrollment import (
    DualEnrollmentFlag,
    OtherEnrollmentDeclaration,
    ProgramOfferRecord,
    SiteServicePoint,
)
from coflex.adapters.store.models_web import Account, ApiToken, BrowserSession
from coflex.domain.enrollment.competition import (
    DEMAND_RESPONSE,
    RELEASE_MESSAGE,
    OtherEnrollment,
    conflicts,
    normalize_service,
    normalize_service_point,
)
from coflex.errors import InputError, NotFoundError, TransitionError
from coflex.services import audit

logger = logging.getLogger(__name__)

CONTROL_PURPOSE = "service_delivery"
# Our side is checked from the first draft, so that a proposal already shows
# the flag; another aggregator's site counts once its customer has accepted.
OUR_LIVE_STATUSES = ("draft", "offered", "accepted", "cooling_off", "active")
ENROLLED_STATUSES = ("accepted", "cooling_off", "active")


@dataclass(frozen=True)
class Release:
    """The changes made by ending control of a customer's devices."""

    devices: int
    consents_revoked: int
    device_accounts_disabled: int
    tokens_revoked: int
    message: str


def revoke_control(session: Session, customer_id: int, at: datetime) -> int:
    """Revoke the customer's consent to device control; return how many ended."""
    result = session.execute(
        update(Consent)
        .where(
            Consent.customer_id == customer_id,
            Consent.purpose == CONTROL_PURPOSE,
            Consent.revoked_at.is_(None),
        )
        .values(revoked_at=at)
    )
    return int(result.rowcount or 0)


def release_devices(
    session: Session, customer_id: int, at: datetime, actor: str
) -> Release:
    """End this aggregator's control of every device of a customer.

    The control consent is revoked, each device account is disabled and its
    API tokens and browser sessions are revoked, and an audit record keeps the
    counts and the message the customer is given (:data:`RELEASE_MESSAGE`).
    """
    consents = revoke_control(session, customer_id, at)
    device_ids = list(
        session.scalars(
            select(Device.id)
            .join(Site, Site.id == Device.site_id)
            .where(Site.customer_id == customer_id)
        )
    )
    accounts = list(
        session.scalars(
            select(Account.id).where(
                Account.role == "device",
                Account.device_id.in_(device_ids),
                Account.disabled_at.is_(None),
            )
        )
    )
    tokens = 0
    if accounts:
        session.execute(
            update(Account).where(Account.id.in_(accounts)).values(disabled_at=at)
        )
        for model in (ApiToken, BrowserSession):
            tokens += session.execute(
                update(model)
                .where(model.account_id.in_(accounts), model.revoked_at.is_(None))
                .values(revoked_at=at)
            ).rowcount
    release = Release(len(device_ids), consents, len(accounts), tokens, RELEASE_MESSAGE)
    audit.append(
        session,
        [
            audit.AuditRecord(
                at=at,
                action="devices_released",
                subject=f"customer:{customer_id}",
                details={
                    "devices": release.devices,
                    "consents_revoked": release.consents_revoked,
                    "device_accounts_disabled": release.device_accounts_disabled,
                    "tokens_revoked": release.tokens_revoked,
                    "customer_told": release.message,
                },
                actor=actor,
                customer_id=customer_id,
            )
        ],
    )
    logger.info(
        "customer %s: %d devices released, %d device accounts disabled",
        customer_id,
        release.devices,
        release.device_accounts_disabled,
    )
    return release


def _site(session: Session, site_id: int) -> Site:
    site = session.get(Site, site_id)
    if site is None:
        raise NotFoundError(
            f"site {site_id} not found: check the site id", value=site_id, field="site"
        )
    return site


def record_service_point(
    session: Session, site_id: int, service_point_id: str, at: datetime
) -> list[int]:
    """Store a site's utility service-point id and cross-check it.

    Every site that shares the id is checked again, because an enrollment by
    either aggregator may conflict with the other. Returns the ids of the new
    flags.
    """
    _site(session, site_id)
    normalized = normalize_service_point(service_point_id)
    row = session.get(SiteServicePoint, site_id)
    if row is None:
        session.add(
            SiteServicePoint(
                site_id=site_id, service_point_id=normalized, recorded_at=at
            )
        )
    else:
        row.service_point_id, row.recorded_at = normalized, at
    session.flush()
    sharing = session.scalars(
        select(SiteServicePoint.site_id).where(
            SiteServicePoint.service_point_id == normalized
        )
    ).all()
    flags: list[int] = []
    for other_site in sorted(set(sharing)):
        flags += check_site(session, other_site, at)
    return flags


def declare_other_enrollment(
    session: Session,
    site_id: int,
    provider: str,
    service: str,
    program: str,
    at: datetime,
    declared_by: str,
) -> tuple[int, list[int]]:
    """Store the customer's declaration of another enrollment and check the site.

    Returns the declaration id and the ids of the new flags.
    """
    _site(session, site_id)
    if not provider.strip():
        raise InputError(
            "a declaration needs the other provider's name", field="provider"
        )
    declaration = OtherEnrollmentDeclaration(
        site_id=site_id,
        provider=provider.strip()[:200],
        service=normalize_service(service),
        program=program.strip()[:200],
        declared_at=at,
        declared_by=declared_by[:200],
    )
    session.add(declaration)
    session.flush()
    return declaration.id, check_site(session, site_id, at)


def program_service(session: Session, program_id: int) -> str:
    """Return the grid service a program provides, from its stored offer."""
    offer = session.scalar(
        select(ProgramOfferRecord.offer).where(
            ProgramOfferRecord.program_id == program_id
        )
    )
    # Every coflex program dispatches load-reduction events.
    return normalize_service(str((offer or {}).get("service", DEMAND_RESPONSE)))


def _declared(session: Session, site_id: int) -> list[OtherEnrollment]:
    rows = session.scalars(
        select(OtherEnrollmentDeclaration).where(
            OtherEnrollmentDeclaration.site_id == site_id,
            OtherEnrollmentDeclaration.ended_at.is_(None),
        )
    ).all()
    return [
        OtherEnrollment(r.provider, r.service, r.program, "declaration") for r in rows
    ]


def _same_service_point(
    session: Session, site: Site, aggregator_id: int
) -> list[OtherEnrollment]:
    """Return other aggregators' enrollments on the site's service point."""
    point = session.get(SiteServicePoint, site.id)
    if point is None:
        return []
    rows = session.execute(
        select(Aggregator.name, Program.id, Program.name)
        .select_from(SiteServicePoint)
        .join(Site, Site.id == SiteServicePoint.site_id)
        .join(Customer, Customer.id == Site.customer_id)
        .join(Contract, Contract.customer_id == Customer.id)
        .join(Program, Program.id == Contract.program_id)
        .join(Aggregator, Aggregator.id == Customer.aggregator_id)
        .where(
            SiteServicePoint.service_point_id == point.service_point_id,
            SiteServicePoint.site_id != site.id,
            Customer.aggregator_id != aggregator_id,
            Contract.status.in_(ENROLLED_STATUSES),
        )
    ).all()
    return [
        OtherEnrollment(
            provider, program_service(session, program_id), name, "service_point"
        )
        for provider, program_id, name in rows
    ]


def check_site(session: Session, site_id: int, at: datetime) -> list[int]:
    """Flag each live contract of the site that another enrollment duplicates.

    A conflict already flagged and unresolved is not flagged twice. Returns the
    ids of the new flags.
    """
    site = _site(session, site_id)
    customer = session.get(Customer, site.customer_id)
    assert customer is not None
    programs = session.scalars(
        select(Contract.program_id).where(
            Contract.customer_id == customer.id,
            Contract.status.in_(OUR_LIVE_STATUSES),
        )
    ).all()
    others = _declared(session, site.id) + _same_service_point(
        session, site, customer.aggregator_id
    )
    new_flags = []
    for program_id in sorted(set(programs)):
        for other in conflicts(program_service(session, program_id), others):
            flag_id = _flag(session, site.id, program_id, other, at)
            if flag_id is not None:
                new_flags.append(flag_id)
    return new_flags


def _flag(
    session: Session,
    site_id: int,
    program_id: int,
    other: OtherEnrollment,
    at: datetime,
) -> int | None:
    existing = session.scalar(
        select(DualEnrollmentFlag.id).where(
            DualEnrollmentFlag.site_id == site_id,
            DualEnrollmentFlag.program_id == program_id,
            DualEnrollmentFlag.source == other.source,
            DualEnrollmentFlag.other_provider == other.provider,
            DualEnrollmentFlag.resolved_at.is_(None),
        )
    )
    if existing is not None:
        return None
    found_by = (
        "declared by the customer"
        if other.source == "declaration"
        else "found by the site's service-point id"
    )
    flag = DualEnrollmentFlag(
        site_id=site_id,
        program_id=program_id,
        source=other.source,
        other_provider=other.provider[:200],
        detail=f"enrolled with {other.provider} in {other.program or 'a program'} "
        f"for {other.service}, {found_by}"[:300],
        flagged_at=at,
    )
    session.add(flag)
    session.flush()
    site = session.get(Site, site_id)
    audit.append(
        session,
        [
            audit.AuditRecord(
                at=at,
                action="dual_enrollment_flagged",
                subject=f"site:{site_id}",
                details={
                    "flag_id": flag.id,
                    "program_id": program_id,
                    "source": other.source,
                    "provider": other.provider,
                },
                customer_id=site.customer_id if site else None,
            )
        ],
    )
    logger.warning("site %s flagged for dual enrollment (flag %s)", site_id, flag.id)
    return flag.id


def resolve_flag(
    session: Session, flag_id: int, resolution: str, by: str, at: datetime
) -> None:
    """Close a dual-enrollment flag, which lets the site be dispatched again.

    Raises
    ------
    TransitionError
        If the flag is already resolved.
    """
    flag = session.get(DualEnrollmentFlag, flag_id)
    if flag is None:
        raise NotFoundError(
            f"dual-enrollment flag {flag_id} not found: list flags with "
            "`coflex enrollment flags`",
            value=flag_id,
            field="flag_id",
        )
    if flag.resolved_at is not None:
        raise TransitionError(
            f"flag {flag_id} was resolved {flag.resolved_at.isoformat()}: "
            "nothing to do",
            value=flag_id,
            field="flag_id",
        )
    if not resolution.strip():
        raise InputError(
            "a resolution needs the reason, e.g. 'customer left the other "
            "provider on 2026-06-01'",
            field="resolution",
        )
    flag.resolved_at, flag.resolved_by = at, by[:200]
    flag.resolution = resolution.strip()[:300]
    site = session.get(Site, flag.site_id)
    audit.append(
        session,
        [
            audit.AuditRecord(
                at=at,
                action="dual_enrollment_resolved",
                subject=f"site:{flag.site_id}",
                details={"flag_id": flag.id, "resolution": flag.resolution},
                actor=by,
                customer_id=site.customer_id if site else None,
            )
        ],
    )


def open_flags(
    session: Session, site_ids: Iterable[int], program_id: int | None = None
) -> dict[int, list[DualEnrollmentFlag]]:
    """Return the unresolved flags of each site, optionally for one program."""
    unique_ids = sorted(set(site_ids))
    found: dict[int, list[DualEnrollmentFlag]] = {}
    for first in range(0, len(unique_ids), 5_000):
        query = select(DualEnrollmentFlag).where(
            DualEnrollmentFlag.site_id.in_(unique_ids[first : first + 5_000]),
            DualEnrollmentFlag.resolved_at.is_(None),
        )
        if program_id is not None:
            query = query.where(DualEnrollmentFlag.program_id == program_id)
        for flag in session.scalars(query.order_by(DualEnrollmentFlag.id)):
            found.setdefault(flag.site_id, []).append(flag)
    return found
