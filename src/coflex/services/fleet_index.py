"""The fleet of one program as arrays, loaded from the store for an event."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime

import numpy as np
from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from coflex.adapters.store.models import (
    Consent,
    Contract,
    Customer,
    Device,
    Event,
    Participation,
    Program,
    Site,
)
from coflex.domain.operations.notice import Channel
from coflex.domain.programs import ProgramTerms
from coflex.services import competition

CONTROL_PURPOSE = "service_delivery"


@dataclass(frozen=True)
class FleetIndex:
    """Sites and devices of a program, in a fixed order.

    Site arrays are indexed by site position; device arrays by device
    position, with ``device_site`` giving each device's site position.
    """

    program_id: int
    site_id: np.ndarray
    customer_id: np.ndarray
    customer_ref: list[str]
    customer_name: list[str]
    channel: list[Channel]
    timezone: list[str]
    latitude: np.ndarray
    longitude: np.ndarray
    # The first open dual-enrollment flag of each site, as "flag N: detail".
    dual_enrollment: list[str | None]
    medical: np.ndarray
    vulnerable: np.ndarray
    contract_status: list[str | None]
    cooling_off_ends_at: list[datetime | None]
    terms: list[ProgramTerms]
    consent_valid: np.ndarray
    events_this_season: np.ndarray
    hours_this_season: np.ndarray
    device_id: np.ndarray
    device_site: np.ndarray
    device_kind: list[str]
    device_model_index: np.ndarray
    device_parameters: list[dict]

    @property
    def n_sites(self) -> int:
        return len(self.site_id)


def _season_usage(
    session: Session, program: Program, at: datetime
) -> tuple[dict[int, int], dict[int, float]]:
    """Count events and hours per site in the program's season before ``at``."""
    rows = session.execute(
        select(
            Participation.site_id,
            Event.id,
            Event.start,
            Event.end,
            Participation.dispatched_at,
            Participation.released_at,
        )
        .join(Event, Event.id == Participation.event_id)
        .where(
            Event.program_id == program.id,
            Event.status == "completed",
            Event.start < at,
            Participation.dispatched_at.is_not(None),
        )
        .distinct()
    ).all()
    events: dict[int, set[int]] = defaultdict(set)
    hours: dict[int, float] = defaultdict(float)
    season_start: date = program.season_start
    # A site counts the time its devices were under control, so an event it
    # left early by override counts only up to the override.
    controlled: dict[tuple[int, int], tuple[datetime, datetime]] = {}
    for site_id, event_id, start, end, dispatched, released in rows:
        if start.date() < season_start:
            continue
        events[site_id].add(event_id)
        first = max(dispatched, start)
        last = min(released or end, end)
        known = controlled.get((site_id, event_id))
        if known:
            first, last = min(first, known[0]), max(last, known[1])
        controlled[(site_id, event_id)] = (first, last)
    for (site_id, _), (first, last) in controlled.items():
        hours[site_id] += max((last - first).total_seconds(), 0.0) / 3600
    return {k: len(v) for k, v in events.items()}, dict(hours)


def _valid_consents(
    session: Session, customer_ids: list[int], at: datetime
) -> set[int]:
    rows = session.execute(
        select(Consent.customer_id).where(
            Consent.purpose == CONTROL_PURPOSE,
            Consent.granted_at <= at,
            (Consent.revoked_at.is_(None)) | (Consent.revoked_at > at),
            (Consent.expires_at.is_(None)) | (Consent.expires_at > at),
        )
    ).all()
    wanted = set(customer_ids)
    return {row[0] for row in rows if row[0] in wanted}


def load_fleet_index(session: Session, program_id: int, at: datetime) -> FleetIndex:
    """Load every site with a contract in the program, as of ``at``."""
    program = session.get(Program, program_id)
    if program is None:
        raise LookupError(f"program {program_id} not found")
    latest = (
        select(Contract.customer_id, func.max(Contract.id).label("contract_id"))
        .where(Contract.program_id == program_id)
        .group_by(Contract.customer_id)
        .subquery()
    )
    rows = session.execute(
        select(Site, Customer, Contract)
        .join(Customer, Customer.id == Site.customer_id)
        .join(latest, latest.c.customer_id == Customer.id)
        .join(Contract, and_(Contract.id == latest.c.contract_id))
        .order_by(Site.id)
    ).all()
    customer_ids = [customer.id for _, customer, _ in rows]
    consents = _valid_consents(session, customer_ids, at)
    events, hours = _season_usage(session, program, at)

    site_ids = [site.id for site, _, _ in rows]
    position = {site_id: i for i, site_id in enumerate(site_ids)}
    flags = competition.open_flags(session, site_ids, program_id)
    devices = (
        session.execute(
            select(Device).where(Device.site_id.in_(site_ids)).order_by(Device.id)
        )
        .scalars()
        .all()
        if site_ids
        else []
    )
    return FleetIndex(
        program_id=program_id,
        site_id=np.array(site_ids, dtype=np.int64),
        customer_id=np.array(customer_ids, dtype=np.int64),
        customer_ref=[customer.reference for _, customer, _ in rows],
        customer_name=[customer.name for _, customer, _ in rows],
        channel=[Channel(customer.preferred_channel) for _, customer, _ in rows],
        timezone=[site.timezone for site, _, _ in rows],
        latitude=np.array([site.latitude for site, _, _ in rows], dtype=float),
        longitude=np.array([site.longitude for site, _, _ in rows], dtype=float),
        dual_enrollment=[
            f"flag {flags[s][0].id}: {flags[s][0].detail}" if s in flags else None
            for s in site_ids
        ],
        medical=np.array([site.medical_equipment for site, _, _ in rows], dtype=bool),
        vulnerable=np.array(
            [site.vulnerable_occupants for site, _, _ in rows], dtype=bool
        ),
        contract_status=[contract.status for _, _, contract in rows],
        cooling_off_ends_at=[contract.cooling_off_ends_at for _, _, contract in rows],
        terms=[ProgramTerms.from_json(contract.terms) for _, _, contract in rows],
        consent_valid=np.array([cid in consents for cid in customer_ids], dtype=bool),
        events_this_season=np.array(
            [events.get(s, 0) for s in site_ids], dtype=np.int64
        ),
        hours_this_season=np.array([hours.get(s, 0.0) for s in site_ids]),
        device_id=np.array([d.id for d in devices], dtype=np.int64),
        device_site=np.array([position[d.site_id] for d in devices], dtype=np.int64),
        device_kind=[d.kind for d in devices],
        device_model_index=np.array([d.model_index for d in devices], dtype=np.int64),
        device_parameters=[d.parameters for d in devices],
    )
