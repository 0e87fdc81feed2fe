"""Limits a grid operator's flexibility request must fit before it opens an event.

Beyond the terms checked by
:func:`coflex.domain.operations.requests.validate_request`, a request must
fall inside the program's season, must not take the program past its events
or event hours per season, and must not ask for more than the enrolled fleet
could shed at full rated power.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from coflex.adapters.store.models import Contract, Device, Event, Program, Site
from coflex.domain.operations.requests import FlexibilityRequest
from coflex.domain.programs import ProgramTerms
from coflex.errors import RequestError, RuleViolation

# Events that never ran do not count against the season's caps.
NOT_COUNTED = ("declined", "cancelled")
# The maximum load a device can shed is its rated electrical input [kW]. An
# air conditioner draws less than its cooling capacity because its COP is
# above 1, so the cooling capacity is an upper bound.
RATED_KW = {
    "hvac": "cooling_capacity_kw",
    "battery": "power_kw",
    "ev_charger": "charger_kw",
    "water_heater": "element_kw",
}


class SeasonCapExceeded(RuleViolation):
    """A request that would take the program past its events or hours per season."""

    code = "season_cap_exceeded"


@dataclass(frozen=True)
class FleetSize:
    devices: int
    rated_kw: float


def fleet_size(session: Session, program_id: int) -> FleetSize:
    """Count the devices under active contracts of the program and sum their rating."""
    sites = (
        select(Site.id)
        .join(Contract, Contract.customer_id == Site.customer_id)
        .where(Contract.program_id == program_id, Contract.status == "active")
    )
    rows = session.execute(
        select(Device.kind, Device.parameters).where(Device.site_id.in_(sites))
    ).all()
    rated = sum(
        float(parameters.get(RATED_KW.get(kind, ""), 0.0))
        for kind, parameters in rows
    )
    return FleetSize(len(rows), rated)


def check_request(
    session: Session, program: Program, terms: ProgramTerms, request: FlexibilityRequest
) -> None:
    """Reject a request outside the season, over a season cap, or beyond the fleet.

    Raises
    ------
    RequestError
        If the window is outside the program's season, or the target exceeds
        the fleet's total rated power.
    SeasonCapExceeded
        If the event would exceed the program's events or hours per season.
    """
    day = request.start.date()
    if not program.season_start <= day <= program.season_end:
        raise RequestError(
            f"request starts on {day} but program {program.id}'s season runs from "
            f"{program.season_start} to {program.season_end}: send a start inside "
            "the season",
            value=request.start,
            field="start",
        )
    season = _season_events(session, program, request)
    events = len(season)
    if events >= terms.max_events_per_season:
        raise SeasonCapExceeded(
            f"program {program.id} already has {events} events this season, the "
            f"most its terms allow ({terms.max_events_per_season}): send the "
            "request to another program or after the season",
            value=events,
            field="program_id",
        )
    hours = sum((end - start).total_seconds() for start, end in season) / 3600
    requested_h = request.duration_s / 3600
    if hours + requested_h > terms.max_hours_per_season + 1e-9:
        left = max(terms.max_hours_per_season - hours, 0.0)
        raise SeasonCapExceeded(
            f"program {program.id} has used {hours:.2f} of its "
            f"{terms.max_hours_per_season:g} event hours this season, so "
            f"{left:.2f} h are left but the request lasts {requested_h:.2f} h: shorten "
            "the window",
            value=requested_h,
            field="end",
        )
    size = fleet_size(session, program.id)
    if request.target_kw > size.rated_kw:
        raise RequestError(
            f"target {request.target_kw:g} kW exceeds the {size.rated_kw:.1f} kW "
            f"that all {size.devices} devices under active contracts in program "
            f"{program.id} could shed at full rated power: lower target_kw to at "
            f"most {size.rated_kw:.1f}",
            value=request.target_kw,
            field="target_kw",
        )


def _season_events(
    session: Session, program: Program, request: FlexibilityRequest
) -> list[tuple[datetime, datetime]]:
    """Return the windows of the program's events that count in the request's season."""
    zone = request.start.tzinfo
    first = datetime.combine(program.season_start, time(), zone)
    after = datetime.combine(program.season_end + timedelta(days=1), time(), zone)
    rows = session.execute(
        select(Event.start, Event.end).where(
            Event.program_id == program.id,
            Event.status.not_in(NOT_COUNTED),
            Event.start >= first,
            Event.start < after,
        )
    ).all()
    return [(start, end) for start, end in rows]
