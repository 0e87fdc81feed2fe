"""The regulator view: registrations, programs, events and their records."""

# Annotations stay evaluated: FastAPI reads them from the route functions.

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import func, select

from coflex.adapters.store.models import (
    Aggregator,
    Event,
    EventReport,
    Notice,
    Override,
    Program,
    Statement,
)
from coflex.entrypoints.web import scope
from coflex.entrypoints.web.schemas import MAX_ID
from coflex.entrypoints.web.security import PageUser, page_roles, session_factory
from coflex.entrypoints.web.templating import templates
from coflex.services.accounts import NotFound, Role

router = APIRouter(prefix="/regulator")
RegulatorUser = Annotated[PageUser, Depends(page_roles(Role.REGULATOR))]
PathId = Annotated[int, Path(ge=1, le=MAX_ID)]


def _record_counts(session, model, event_ids: list[int]) -> dict[int, int]:  # type: ignore[no-untyped-def]
    rows = session.execute(
        select(model.event_id, func.count())
        .where(model.event_id.in_(event_ids))
        .group_by(model.event_id)
    ).all()
    return dict(rows)


@router.get("", response_class=HTMLResponse)
def regulator(request: Request, user: RegulatorUser) -> Response:
    """Show the registered aggregators of the jurisdiction and their events."""
    principal = user.principal
    with session_factory(request)() as session:
        aggregators = session.scalars(
            select(Aggregator).where(Aggregator.id.in_(scope.aggregator_ids(principal)))
        ).all()
        programs = session.scalars(
            select(Program).where(Program.id.in_(scope.program_ids(principal)))
        ).all()
        events = session.scalars(
            select(Event)
            .where(Event.id.in_(scope.event_ids(principal)))
            .order_by(Event.start.desc())
            .limit(200)
        ).all()
        ids = [e.id for e in events]
        reports = set(
            session.scalars(
                select(EventReport.event_id).where(EventReport.event_id.in_(ids))
            )
        )
        context = {
            "user": user,
            "aggregators": aggregators,
            "programs": programs,
            "events": events,
            "reports": reports,
            "notices": _record_counts(session, Notice, ids),
            "overrides": _record_counts(session, Override, ids),
            "statements": _record_counts(session, Statement, ids),
        }
    return templates.TemplateResponse(request, "regulator.html", context)


@router.get("/events/{event_id}/report", response_class=HTMLResponse)
def event_report(request: Request, user: RegulatorUser, event_id: PathId) -> Response:
    """Return the stored event report, the record of what the event did."""
    with session_factory(request)() as session:
        report = session.scalar(
            select(EventReport).where(
                EventReport.event_id == event_id,
                EventReport.event_id.in_(scope.event_ids(user.principal)),
            )
        )
        if report is None:
            raise NotFound(
                f"no report of event {event_id} in your jurisdiction", field="id"
            )
        return HTMLResponse(report.html)
