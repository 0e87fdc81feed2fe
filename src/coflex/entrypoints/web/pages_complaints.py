"""Complaint pages: a customer's own complaints, the operator's queue, escalations.

A customer files a complaint, about an event or a statement if they choose.
The page shows its status and deadlines and, once the right arises, lets the
customer record that they took it to the regulator. The operator works the
queue of open complaints by deadline. The regulator reads the complaints
escalated to it.
"""

# Annotations stay evaluated: FastAPI reads them from the route functions.

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import select

from coflex.adapters.store.database import transaction
from coflex.adapters.store.models import Customer, Event, Statement
from coflex.adapters.store.models_governance import Complaint
from coflex.domain.administration.complaints import (
    Outcome,
    Status,
    may_escalate,
)
from coflex.entrypoints.web.rate_limits import admit_write
from coflex.entrypoints.web import scope
from coflex.entrypoints.web.api import fetch_visible
from coflex.entrypoints.web.api_governance import (
    COMPLAINTS,
    ComplaintIn,
    complaint_scope,
    file_complaint,
)
from coflex.entrypoints.web.errors import form_message
from coflex.entrypoints.web.schemas import MAX_ID
from coflex.entrypoints.web.security import (
    CsrfField,
    PageUser,
    check_csrf,
    page_roles,
    session_factory,
)
from coflex.entrypoints.web.templating import templates
from coflex.errors import CoflexError
from coflex.services import complaints
from coflex.services.accounts import Role, utc_now

router = APIRouter()
CustomerUser = Annotated[PageUser, Depends(page_roles(Role.CUSTOMER))]
OperatorUser = Annotated[PageUser, Depends(page_roles(Role.OPERATOR))]
RegulatorUser = Annotated[PageUser, Depends(page_roles(Role.REGULATOR))]
PathId = Annotated[int, Path(ge=1, le=MAX_ID)]
LongText = Annotated[str, Form(max_length=4000)]
OPEN = (Status.OPEN.value, Status.ACKNOWLEDGED.value)
MAX_ROWS = 200
FIELD_LABELS = {"summary": "What happened", "category": "What it is about"}
CATEGORY_LABELS = {
    "notice": "Event notices",
    "override": "Overriding an event",
    "comfort_and_safety": "Comfort or safety during an event",
    "baseline_and_payment": "Baseline, payment or a statement",
    "sales": "Sales or enrollment",
    "privacy": "Privacy and my data",
}


def _customer_context(request: Request, user: PageUser) -> dict[str, Any]:
    principal = user.principal
    with session_factory(request)() as session:
        rows = session.scalars(
            select(Complaint)
            .where(Complaint.customer_id == principal.customer_id)
            .order_by(Complaint.id.desc())
        ).all()
        events = session.scalars(
            select(Event)
            .where(Event.id.in_(scope.event_ids(principal)))
            .order_by(Event.start.desc())
            .limit(MAX_ROWS)
        ).all()
        statements = session.scalars(
            select(Statement)
            .where(Statement.customer_id == principal.customer_id)
            .order_by(Statement.issued_at.desc())
        ).all()
    now = utc_now()
    return {
        "user": user,
        "complaints": rows,
        "escalable": {
            c.id
            for c in rows
            if c.status != Status.ESCALATED.value
            and may_escalate(c.escalation_from, c.deadlocked_at, now)
        },
        "events": events,
        "statements": statements,
        "categories": CATEGORY_LABELS,
        "filed": request.query_params.get("filed"),
        "error": None,
        "form": {},
    }


@router.get("/portal/complaints", response_class=HTMLResponse)
def my_complaints(request: Request, user: CustomerUser) -> Response:
    """Show the customer's complaints with their deadlines, and the form to file one."""
    return templates.TemplateResponse(
        request, "complaints.html", _customer_context(request, user)
    )


def _optional_id(value: str) -> int | None:
    return int(value) if value.strip().isdigit() else None


@router.post("/portal/complaints", response_class=HTMLResponse)
def file_my_complaint(
    request: Request,
    user: CustomerUser,
    csrf_token: CsrfField,
    category: Annotated[str, Form(max_length=32)],
    summary: LongText,
    event_id: Annotated[str, Form(max_length=12)] = "",
    statement_id: Annotated[str, Form(max_length=12)] = "",
) -> Response:
    """File a complaint from the portal; a rejected form comes back with the reason."""
    check_csrf(user, csrf_token)
    admit_write(request, "complaint_writes_per_account", user.principal.account_id)
    form = {
        "category": category,
        "summary": summary,
        "event_id": event_id,
        "statement_id": statement_id,
    }
    try:
        body = ComplaintIn(
            category=category,  # type: ignore[arg-type]
            summary=summary.strip(),
            event_id=_optional_id(event_id),
            statement_id=_optional_id(statement_id),
        )
        row = file_complaint(user.principal, body, session_factory(request), "portal")
    except (ValidationError, CoflexError) as exc:
        context = _customer_context(request, user)
        context["form"] = form
        context["error"] = form_message(exc, FIELD_LABELS)
        return templates.TemplateResponse(
            request, "complaints.html", context, status_code=422
        )
    return RedirectResponse(
        f"/portal/complaints?filed={row.reference}", status_code=303
    )


@router.post("/portal/complaints/{complaint_id}/escalation")
def escalate_my_complaint(
    request: Request, user: CustomerUser, complaint_id: PathId, csrf_token: CsrfField
) -> Response:
    """Record that the customer took the complaint to the regulator."""
    check_csrf(user, csrf_token)
    with transaction(session_factory(request)) as session:
        row = fetch_visible(session, COMPLAINTS, user.principal, complaint_id)
        complaints.escalate(session, row.reference, utc_now())
    return RedirectResponse("/portal/complaints", status_code=303)


@router.get("/console/complaints", response_class=HTMLResponse)
def complaint_queue(request: Request, user: OperatorUser) -> Response:
    """Show open complaints by their response deadline, then the latest closed ones."""
    visible = complaint_scope(user.principal)
    with session_factory(request)() as session:
        rows = session.execute(
            select(Complaint, Customer.reference)
            .join(Customer, Customer.id == Complaint.customer_id)
            .where(visible, Complaint.status.in_(OPEN))
            .order_by(Complaint.respond_by, Complaint.id)
            .limit(MAX_ROWS)
        ).all()
        closed = session.execute(
            select(Complaint, Customer.reference)
            .join(Customer, Customer.id == Complaint.customer_id)
            .where(visible, Complaint.status.not_in(OPEN))
            .order_by(Complaint.id.desc())
            .limit(50)
        ).all()
    return templates.TemplateResponse(
        request,
        "console_complaints.html",
        {
            "user": user,
            "open": rows,
            "closed": closed,
            "now": utc_now(),
            "outcomes": [o.value for o in Outcome],
            "categories": CATEGORY_LABELS,
        },
    )


def _queue_step(
    request: Request, user: PageUser, complaint_id: int, step: Any
) -> Response:
    with transaction(session_factory(request)) as session:
        row = fetch_visible(session, COMPLAINTS, user.principal, complaint_id)
        step(session, row.reference)
    return RedirectResponse(
        f"/console/complaints#complaint-{complaint_id}", status_code=303
    )


@router.post("/console/complaints/{complaint_id}/acknowledgement")
def acknowledge(
    request: Request, user: OperatorUser, complaint_id: PathId, csrf_token: CsrfField
) -> Response:
    check_csrf(user, csrf_token)
    return _queue_step(
        request,
        user,
        complaint_id,
        lambda session, ref: complaints.acknowledge(session, ref, utc_now()),
    )


@router.post("/console/complaints/{complaint_id}/resolution")
def resolve(
    request: Request,
    user: OperatorUser,
    complaint_id: PathId,
    csrf_token: CsrfField,
    outcome: Annotated[str, Form(max_length=24)],
    response: LongText,
) -> Response:
    check_csrf(user, csrf_token)
    return _queue_step(
        request,
        user,
        complaint_id,
        lambda session, ref: complaints.resolve(
            session, ref, outcome, response, utc_now()
        ),
    )


@router.post("/console/complaints/{complaint_id}/deadlock")
def deadlock(
    request: Request,
    user: OperatorUser,
    complaint_id: PathId,
    csrf_token: CsrfField,
    response: LongText,
) -> Response:
    check_csrf(user, csrf_token)
    return _queue_step(
        request,
        user,
        complaint_id,
        lambda session, ref: complaints.declare_deadlock(
            session, ref, response, utc_now()
        ),
    )


@router.get("/regulator/complaints", response_class=HTMLResponse)
def escalated(request: Request, user: RegulatorUser) -> Response:
    """Show the complaints customers took to the regulator, with the final letters."""
    with session_factory(request)() as session:
        rows = session.execute(
            select(Complaint, Customer.reference)
            .join(Customer, Customer.id == Complaint.customer_id)
            .where(complaint_scope(user.principal))
            .order_by(Complaint.escalated_at.desc(), Complaint.id.desc())
            .limit(MAX_ROWS)
        ).all()
    return templates.TemplateResponse(
        request,
        "regulator_complaints.html",
        {"user": user, "complaints": rows, "categories": CATEGORY_LABELS},
    )
