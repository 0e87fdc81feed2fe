"""The operator console: fleet, programs, events with live dispatch progress."""

# Annotations stay evaluated: FastAPI reads them from the route functions.

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from coflex.adapters.store.models import (
    Contract,
    Customer,
    Device,
    DeviceCommand,
    EligibilityDecision,
    Event,
    EventTrace,
    Override,
    Participation,
    Program,
    SafetyRelease,
    Site,
)
from coflex.entrypoints.web.schemas import MAX_ID
from coflex.entrypoints.web.security import PageUser, page_roles, session_factory
from coflex.entrypoints.web.templating import clock_time, templates
from coflex.reports.charts import Series, svg_line_chart
from coflex.services.accounts import NotFound, Role

router = APIRouter(prefix="/console")
OperatorUser = Annotated[PageUser, Depends(page_roles(Role.OPERATOR))]
PathId = Annotated[int, Path(ge=1, le=MAX_ID)]
MAX_ROWS = 200


def _fleet(session: Session, aggregator_id: int) -> dict[str, Any]:
    customers = select(Customer.id).where(Customer.aggregator_id == aggregator_id)
    sites = select(Site.id).where(Site.customer_id.in_(customers))
    devices = session.execute(
        select(Device.kind, func.count())
        .where(Device.site_id.in_(sites))
        .group_by(Device.kind)
        .order_by(Device.kind)
    ).all()
    contracts = session.execute(
        select(Contract.status, func.count())
        .where(Contract.customer_id.in_(customers))
        .group_by(Contract.status)
        .order_by(Contract.status)
    ).all()
    return {
        "customers": session.scalar(
            select(func.count()).select_from(customers.subquery())
        ),
        "sites": session.scalar(select(func.count()).select_from(sites.subquery())),
        "devices": devices,
        "contracts": contracts,
    }


def _latest_traces(session: Session, event_ids: list[int]) -> dict[int, EventTrace]:
    latest = (
        select(func.max(EventTrace.id))
        .where(EventTrace.event_id.in_(event_ids))
        .group_by(EventTrace.event_id)
    )
    rows = session.scalars(select(EventTrace).where(EventTrace.id.in_(latest))).all()
    return {row.event_id: row for row in rows}


@router.get("", response_class=HTMLResponse)
def console(request: Request, user: OperatorUser) -> Response:
    """Show the fleet, the programs and the events of the operator's aggregator."""
    aggregator_id = user.principal.aggregator_id
    with session_factory(request)() as session:
        programs = session.scalars(
            select(Program).where(Program.aggregator_id == aggregator_id)
        ).all()
        events = session.scalars(
            select(Event)
            .where(Event.program_id.in_([p.id for p in programs]))
            .order_by(Event.start.desc())
            .limit(MAX_ROWS)
        ).all()
        context = {
            "user": user,
            "fleet": _fleet(session, aggregator_id or 0),
            "programs": programs,
            "events": events,
            "traces": _latest_traces(session, [e.id for e in events]),
        }
    return templates.TemplateResponse(request, "console.html", context)


def _chart(traces: list[EventTrace], timezone: str) -> str:
    labels = [clock_time(t.at, timezone)[:5] for t in traces]
    return svg_line_chart(
        labels,
        [
            Series("Requested", [t.requested_kw for t in traces], "#1f4e79", True),
            Series("Commanded", [t.commanded_kw for t in traces], "#7a5c00"),
            Series(
                "Delivered",
                [t.counterfactual_kw - t.fleet_power_kw for t in traces],
                "#1b6e3a",
            ),
        ],
        unit="kW",
        title="Requested, commanded and delivered reduction",
    )


def _exclusions(session: Session, event_id: int) -> list[tuple[str, int]]:
    rows = session.execute(
        select(
            EligibilityDecision.reason,
            func.count(EligibilityDecision.site_id.distinct()),
        )
        .where(
            EligibilityDecision.event_id == event_id,
            EligibilityDecision.eligible.is_(False),
            EligibilityDecision.device_id.is_(None),
        )
        .group_by(EligibilityDecision.reason)
        .order_by(EligibilityDecision.reason)
    ).all()
    return [(str(reason), int(count)) for reason, count in rows]


def _cover(session: Session, event_id: int) -> dict[str, float | int]:
    """Sum the flexibility that overrides released and that reserve replaced [kW]."""
    gap = session.scalar(
        select(
            func.coalesce(
                func.sum(
                    Participation.predicted_flex_kw * Participation.planned_fraction
                ),
                0.0,
            )
        ).where(
            Participation.event_id == event_id,
            Participation.release_reason == "customer_override",
        )
    )
    reserve = session.execute(
        select(
            func.count(), func.coalesce(func.sum(Participation.predicted_flex_kw), 0.0)
        ).where(
            Participation.event_id == event_id,
            Participation.role == "reserve",
            Participation.dispatched_at.is_not(None),
        )
    ).one()
    return {
        "gap_kw": float(gap or 0.0),
        "reserve_devices": int(reserve[0]),
        "reserve_kw": float(reserve[1]),
    }


def _event_detail(session: Session, event: Event, timezone: str) -> dict[str, Any]:
    traces = list(
        session.scalars(
            select(EventTrace)
            .where(EventTrace.event_id == event.id)
            .order_by(EventTrace.at)
        ).all()
    )
    overrides = session.scalars(
        select(Override)
        .where(Override.event_id == event.id)
        .order_by(Override.honoured_at, Override.id)
    ).all()
    reserve_calls = session.scalars(
        select(DeviceCommand)
        .where(
            DeviceCommand.event_id == event.id, DeviceCommand.reason == "reserve_cover"
        )
        .order_by(DeviceCommand.issued_at, DeviceCommand.id)
        .limit(MAX_ROWS)
    ).all()
    safety = session.execute(
        select(SafetyRelease.reason, func.count())
        .where(SafetyRelease.event_id == event.id)
        .group_by(SafetyRelease.reason)
    ).all()
    return {
        "event": event,
        "timezone": timezone,
        "traces": traces,
        "chart": _chart(traces, timezone) if traces else None,
        "exclusions": _exclusions(session, event.id),
        "overrides": overrides[:MAX_ROWS],
        "override_count": len(overrides),
        "slowest_override_s": max(
            ((o.honoured_at - o.requested_at).total_seconds() for o in overrides),
            default=None,
        ),
        "reserve_calls": reserve_calls,
        "cover": _cover(session, event.id),
        "safety": safety,
    }


@router.get("/events/{event_id}", response_class=HTMLResponse)
def event_page(request: Request, user: OperatorUser, event_id: PathId) -> Response:
    """Show an event's progress; the page reloads every 10 s while it runs."""
    with session_factory(request)() as session:
        event = session.scalar(
            select(Event)
            .join(Program, Program.id == Event.program_id)
            .where(
                Event.id == event_id,
                Program.aggregator_id == user.principal.aggregator_id,
            )
        )
        if event is None:
            raise NotFound(f"event {event_id} not found among your events", field="id")
        timezone = session.scalar(select(Site.timezone).limit(1)) or "UTC"
        context = {"user": user, **_event_detail(session, event, timezone)}
    return templates.TemplateResponse(request, "event.html", context)
