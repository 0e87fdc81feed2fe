"""The portal's opt-out of a coming event and its leave-the-program button."""

# Annotations stay evaluated: FastAPI reads them from the route functions.

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from coflex.adapters.store.models import Event
from coflex.adapters.store.models_notices import SiteWithdrawal
from coflex.domain.fleet import ExclusionReason
from coflex.entrypoints.web.pages_customer import _portal
from coflex.entrypoints.web.schemas import MAX_ID
from coflex.entrypoints.web.security import (
    CsrfField,
    PageUser,
    check_csrf,
    page_roles,
    session_factory,
)
from coflex.entrypoints.web.templating import templates
from coflex.services import opt_outs
from coflex.services.accounts import NotFound, Role, utc_now

router = APIRouter(prefix="/portal")
CustomerUser = Annotated[PageUser, Depends(page_roles(Role.CUSTOMER))]
FormId = Annotated[int, Form(ge=1, le=MAX_ID)]
PathId = Annotated[int, Path(ge=1, le=MAX_ID)]


@router.post("/opt-outs")
def opt_out(
    request: Request,
    user: CustomerUser,
    event_id: FormId,
    site_id: FormId,
    csrf_token: CsrfField,
) -> Response:
    """Withdraw the customer's site from a coming event in one step."""
    check_csrf(user, csrf_token)
    result = opt_outs.opt_out(
        session_factory(request),
        event_id,
        site_id,
        customer_id=user.principal.customer_id or 0,
        account_id=user.principal.account_id,
        channel="portal",
        now=utc_now(),
    )
    return RedirectResponse(f"/portal/opt-outs/{result.withdrawal_id}", status_code=303)


@router.get("/opt-outs/{withdrawal_id}", response_class=HTMLResponse)
def opt_out_page(
    request: Request, user: CustomerUser, withdrawal_id: PathId
) -> Response:
    """Confirm the opt-out and show the count against any allowance."""
    customer_id = user.principal.customer_id or 0
    with session_factory(request)() as session:
        row = session.get(SiteWithdrawal, withdrawal_id)
        if (
            row is None
            or row.customer_id != customer_id
            or row.reason != ExclusionReason.OPTED_OUT.value
        ):
            raise NotFound(f"opt-out {withdrawal_id} not found", field="id")
        event = session.get(Event, row.event_id)
        assert event is not None
        standing = opt_outs.allowance_in_program(
            session, customer_id, event.program_id, event.start.year
        )
        allowance = standing.describe() if standing is not None else ""
        view = _portal(session, customer_id)
    return templates.TemplateResponse(
        request,
        "optout.html",
        {"user": user, "row": row, "event": event, "allowance": allowance, **view},
    )


@router.post("/leave", response_class=HTMLResponse)
def leave(
    request: Request,
    user: CustomerUser,
    program_id: FormId,
    csrf_token: CsrfField,
) -> Response:
    """End the customer's contract in one step and show what happened."""
    check_csrf(user, csrf_token)
    customer_id = user.principal.customer_id or 0
    factory = session_factory(request)
    departure = opt_outs.leave_program(
        factory,
        customer_id,
        program_id,
        account_id=user.principal.account_id,
        channel="portal",
        now=utc_now(),
    )
    with factory() as session:
        view = _portal(session, customer_id)
    return templates.TemplateResponse(
        request, "leave.html", {"user": user, "departure": departure, **view}
    )
