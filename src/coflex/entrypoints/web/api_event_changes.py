"""API routes for announced events: change, cancel, opt out, leave the program.

Operators change or cancel events of their aggregator's programs; customers
opt their own sites out of coming events and leave programs. Notices go to
the outbox as queued, for the process that runs the event to deliver.
"""

# Annotations stay evaluated: FastAPI reads them from the route functions.

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from sqlalchemy import select

from coflex.adapters.store.models import Event
from coflex.entrypoints.web import schemas, scope
from coflex.entrypoints.web.api import ERRORS, RESOURCE_BY_PATH, Factory, ItemId
from coflex.entrypoints.web.api import fetch_visible as fetch
from coflex.entrypoints.web.security import api_roles
from coflex.services import event_changes, opt_outs
from coflex.services.accounts import NotFound, Principal, Role, utc_now

router = APIRouter()
Customer = Annotated[Principal, Depends(api_roles(Role.CUSTOMER))]
Operator = Annotated[Principal, Depends(api_roles(Role.OPERATOR))]


class EventChangeIn(BaseModel):
    """A new window or target for a coming event; omitted fields stay as they are."""

    model_config = ConfigDict(extra="forbid")

    start: AwareDatetime | None = None
    end: AwareDatetime | None = None
    target_kw: float | None = Field(None, gt=0, le=1e7, allow_inf_nan=False)
    reason: str = Field(min_length=1, max_length=300)


class EventCancellationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=300)


class EventChangeOut(BaseModel):
    event_id: int
    kind: str = Field(description="change or cancel")
    notices: int = Field(description="Change or cancellation notices queued.")
    withdrawn_sites: list[int] = Field(
        description="Sites whose change notice cannot arrive by the new deadline."
    )


class OptOutIn(BaseModel):
    """Take one of the customer's sites out of a coming event."""

    model_config = ConfigDict(extra="forbid")

    event_id: int = Field(ge=1, le=schemas.MAX_ID)
    site_id: int = Field(ge=1, le=schemas.MAX_ID)


class OptOutOut(BaseModel):
    id: int
    event_id: int
    site_id: int
    requested_at: datetime
    confirmation: str


class DepartureIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    program_id: int = Field(ge=1, le=schemas.MAX_ID)
    reason: str = Field("left the program", min_length=1, max_length=300)


class DepartureOut(BaseModel):
    contract_id: int
    status: str = Field(description="cancelled (in cooling-off) or terminated")
    final_statement_id: int | None
    withdrawn_events: list[int]


def _operator_event(factory: Factory, principal: Principal, event_id: int) -> None:
    with factory() as session:
        visible = session.scalar(
            select(Event.id).where(
                Event.id == event_id, Event.id.in_(scope.operator_events(principal))
            )
        )
    if visible is None:
        raise NotFound(
            f"event {event_id} not found among your programs' events: list "
            "GET /events",
            value=event_id,
            field="id",
        )


def _change_out(result: event_changes.ChangeResult) -> EventChangeOut:
    return EventChangeOut(
        event_id=result.event_id,
        kind=result.kind,
        notices=result.notices,
        withdrawn_sites=result.withdrawn_sites,
    )


@router.post(
    "/events/{item_id}/change",
    responses=ERRORS,
    tags=["events"],
    operation_id="change_event",
)
def change_event(
    principal: Operator, item_id: ItemId, body: EventChangeIn, factory: Factory
) -> EventChangeOut:
    """Change a coming event's window or target and notify its customers.

    Sites whose change notice cannot arrive by the deadline for the new start
    are withdrawn from the event, with the reason recorded.
    """
    _operator_event(factory, principal, item_id)
    result = event_changes.change_event(
        factory,
        item_id,
        now=utc_now(),
        actor=f"account:{principal.account_id}",
        reason=body.reason,
        start=body.start,
        end=body.end,
        target_kw=body.target_kw,
    )
    return _change_out(result)


@router.post(
    "/events/{item_id}/cancellation",
    responses=ERRORS,
    tags=["events"],
    operation_id="cancel_event",
)
def cancel_event(
    principal: Operator, item_id: ItemId, body: EventCancellationIn, factory: Factory
) -> EventChangeOut:
    """Cancel a coming or running event and notify its customers.

    A running event releases every device within its 60-second step.
    """
    _operator_event(factory, principal, item_id)
    result = event_changes.cancel_event(
        factory,
        item_id,
        now=utc_now(),
        actor=f"account:{principal.account_id}",
        reason=body.reason,
    )
    return _change_out(result)


@router.post(
    "/opt-outs",
    status_code=201,
    responses=ERRORS,
    tags=["opt-outs"],
    operation_id="opt_out_of_event",
)
def opt_out(principal: Customer, body: OptOutIn, factory: Factory) -> OptOutOut:
    """Take one of your sites out of a coming event; a repeat returns the first."""
    with factory() as session:
        fetch(session, RESOURCE_BY_PATH["sites"], principal, body.site_id)
    result = opt_outs.opt_out(
        factory,
        body.event_id,
        body.site_id,
        customer_id=principal.customer_id or 0,
        account_id=principal.account_id,
        channel="app",
        now=utc_now(),
    )
    return OptOutOut(
        id=result.withdrawal_id,
        event_id=result.event_id,
        site_id=result.site_id,
        requested_at=result.requested_at,
        confirmation=result.confirmation,
    )


@router.post(
    "/program-departures",
    status_code=201,
    responses=ERRORS,
    tags=["contracts"],
    operation_id="leave_program",
)
def leave_program(
    principal: Customer, body: DepartureIn, factory: Factory
) -> DepartureOut:
    """Leave a program: cancel in the cooling-off period, terminate after it."""
    result = opt_outs.leave_program(
        factory,
        principal.customer_id or 0,
        body.program_id,
        account_id=principal.account_id,
        channel="app",
        now=utc_now(),
        reason=body.reason,
    )
    return DepartureOut(
        contract_id=result.contract_id,
        status=result.status,
        final_statement_id=result.final_statement_id,
        withdrawn_events=result.withdrawn_events,
    )
