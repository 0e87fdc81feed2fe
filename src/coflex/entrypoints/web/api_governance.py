"""API routes for complaints, the compliance report and regulator record requests.

A customer files and lists their own complaints. An operator works the queue
of its aggregator's customers: it acknowledges, resolves or declares a
deadlock. A regulator reads the complaints escalated to it and the
compliance report, and requests signed record bundles of its jurisdiction.
"""

# Annotations stay evaluated: FastAPI reads them from the route functions.

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from sqlalchemy import ColumnElement, and_, select

from coflex.adapters import signing
from coflex.adapters.store.database import transaction
from coflex.adapters.store.models import Customer, Event, Statement
from coflex.adapters.store.models_governance import Complaint
from coflex.adapters.store.models_records import RecordRequest
from coflex.domain.administration.complaints import Category, Outcome, Status
from coflex.entrypoints.web.rate_limits import admit_write
from coflex.entrypoints.web import scope
from coflex.entrypoints.web.api import (
    ERRORS,
    Factory,
    ItemId,
    Resource,
    fetch_visible,
    register,
)
from coflex.entrypoints.web.schemas import MAX_ID, Filters, Out
from coflex.entrypoints.web.security import api_roles
from coflex.errors import CoflexError, KeyConfigError
from coflex.services import complaints, compliance, record_requests
from coflex.services.accounts import NotFound, Principal, Role, utc_now

R = Role
Customer_ = Annotated[Principal, Depends(api_roles(R.CUSTOMER))]
Operator = Annotated[Principal, Depends(api_roles(R.OPERATOR))]
Regulator = Annotated[Principal, Depends(api_roles(R.REGULATOR))]
Overseer = Annotated[Principal, Depends(api_roles(R.OPERATOR, R.REGULATOR))]


class SigningKeyMissing(CoflexError):
    """The aggregator has not configured the key that signs record bundles."""

    code = "signing_key_not_configured"
    http_status = 503


class ComplaintOut(Out):
    id: int
    reference: str
    customer_id: int
    category: str
    channel: str
    status: str = Field(
        description="open, acknowledged, resolved, deadlocked or escalated"
    )
    summary: str
    received_at: datetime
    acknowledge_by: datetime = Field(description="Deadline to acknowledge receipt.")
    respond_by: datetime = Field(description="Deadline for the final response.")
    escalation_from: datetime = Field(
        description="From then on the customer may take the complaint to the regulator."
    )
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    deadlocked_at: datetime | None
    escalated_at: datetime | None
    outcome: str | None
    response: str | None
    event_id: int | None
    statement_id: int | None


class ComplaintFilters(Filters):
    status: Status | None = None
    category: Category | None = None
    customer_id: int | None = Field(None, ge=1, le=MAX_ID)
    event_id: int | None = Field(None, ge=1, le=MAX_ID)


class ComplaintIn(BaseModel):
    """A complaint in the customer's words, optionally about an event or statement."""

    model_config = ConfigDict(extra="forbid")

    category: Category
    summary: str = Field(min_length=1, max_length=4000)
    event_id: int | None = Field(None, ge=1, le=MAX_ID)
    statement_id: int | None = Field(
        None, ge=1, le=MAX_ID, description="A statement to dispute; sets the event too."
    )


class ResolutionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outcome: Outcome
    response: str = Field(min_length=1, max_length=4000)


class DeadlockIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    response: str = Field(min_length=1, max_length=4000)


def complaint_scope(p: Principal) -> ColumnElement[bool]:
    """Complaints the account may read: its own, its aggregator's, or escalated."""
    if p.role is Role.REGULATOR:
        in_jurisdiction = select(Customer.id).where(
            Customer.aggregator_id.in_(scope.aggregator_ids(p))
        )
        return and_(
            Complaint.status == Status.ESCALATED.value,
            Complaint.customer_id.in_(in_jurisdiction),
        )
    return Complaint.customer_id.in_(scope.customer_ids(p))


COMPLAINTS = Resource(
    "complaints",
    "complaint",
    Complaint,
    ComplaintOut,
    ComplaintFilters,
    (R.CUSTOMER, R.OPERATOR, R.REGULATOR),
    complaint_scope,
)


class RecordRequestOut(Out):
    id: int
    jurisdiction: str
    scope: dict[str, Any]
    reason: str
    requested_at: datetime
    completed_at: datetime
    files: int
    records: int
    signing_key_sha256: str = Field(
        description="Compare with the fingerprint of the key the aggregator filed."
    )
    bundle_sha256: str = Field(description="SHA-256 of the ZIP archive.")


class RecordRequestFilters(Filters):
    pass


RECORD_REQUESTS = Resource(
    "record-requests",
    "record request",
    RecordRequest,
    RecordRequestOut,
    RecordRequestFilters,
    (R.REGULATOR,),
    lambda p: RecordRequest.jurisdiction == p.jurisdiction,
)
RESOURCES = (COMPLAINTS, RECORD_REQUESTS)


class RecordRequestIn(BaseModel):
    """Name exactly one of a customer, an event, or a range with start and end."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    customer_reference: str | None = Field(None, min_length=1, max_length=32)
    event_id: int | None = Field(None, ge=1, le=MAX_ID)
    start: AwareDatetime | None = Field(None, alias="from")
    end: AwareDatetime | None = Field(None, alias="to")
    reason: str = Field(
        min_length=1, max_length=300, description="The inquiry or case it serves."
    )


class ComplianceCheckOut(BaseModel):
    check: str
    description: str
    status: str = Field(description="pass, fail or not_automated")
    evidence: int
    violations: int


class ProvisionOut(BaseModel):
    provision: str
    section: str
    heading: str
    requirement: str
    status: str = Field(description="pass, fail, no_evidence or not_covered")
    checks: list[ComplianceCheckOut]
    evidence: int


class ComplianceReportOut(BaseModel):
    generated_at: str
    coflex_version: str
    plan: dict[str, Any] = Field(
        description="The filed plan compared with the running configuration."
    )
    provisions: list[ProvisionOut]


def _statement_reference(principal: Principal, statement_id: int, factory: Any) -> str:
    with factory() as session:
        row = session.execute(
            select(Statement.event_id, Customer.reference)
            .join(Customer, Customer.id == Statement.customer_id)
            .where(
                Statement.id == statement_id,
                Statement.customer_id == principal.customer_id,
            )
        ).first()
    if row is None:
        raise NotFound(
            f"statement {statement_id} not found: list /statements for yours",
            value=statement_id,
            field="statement_id",
        )
    return f"E{row[0]}-{row[1]}"


def file_complaint(
    principal: Principal, body: ComplaintIn, factory: Any, channel: str
) -> Complaint:
    """Log a customer's own complaint; shared by the API and the portal."""
    statement_ref = (
        _statement_reference(principal, body.statement_id, factory)
        if body.statement_id is not None
        else None
    )
    if body.event_id is not None:
        with factory() as session:
            visible = session.scalar(
                select(Event.id).where(
                    Event.id == body.event_id, Event.id.in_(scope.event_ids(principal))
                )
            )
        if visible is None:
            raise NotFound(
                f"event {body.event_id} not found among your events: list /events",
                value=body.event_id,
                field="event_id",
            )
    with transaction(factory) as session:
        customer = session.get(Customer, principal.customer_id)
        assert customer is not None
        return complaints.log_complaint(
            session,
            complaints.Intake(
                customer_ref=customer.reference,
                category=body.category.value,
                summary=body.summary,
                channel=channel,
                logged_by=f"account:{principal.account_id}",
                received_at=utc_now(),
                event_id=body.event_id,
                statement_ref=statement_ref,
            ),
        )


router = APIRouter()


@router.post(
    "/complaints",
    status_code=201,
    responses=ERRORS,
    tags=["complaints"],
    operation_id="file_complaint",
)
def post_complaint(
    request: Request, principal: Customer_, body: ComplaintIn, factory: Factory
) -> ComplaintOut:
    """File a complaint; the reply carries its deadlines under your jurisdiction."""
    admit_write(request, "complaint_writes_per_account", principal.account_id)
    return ComplaintOut.model_validate(file_complaint(principal, body, factory, "api"))


def _work(principal: Principal, item_id: int, factory: Any, step: Any) -> ComplaintOut:
    with transaction(factory) as session:
        row = fetch_visible(session, COMPLAINTS, principal, item_id)
        return ComplaintOut.model_validate(step(session, row.reference))


@router.post(
    "/complaints/{item_id}/acknowledgement",
    responses=ERRORS,
    tags=["complaints"],
    operation_id="acknowledge_complaint",
)
def acknowledge_complaint(
    principal: Operator, item_id: ItemId, factory: Factory
) -> ComplaintOut:
    """Record the acknowledgement sent to the customer; a repeat keeps the first."""
    return _work(
        principal,
        item_id,
        factory,
        lambda session, ref: complaints.acknowledge(session, ref, utc_now()),
    )


@router.post(
    "/complaints/{item_id}/resolution",
    responses=ERRORS,
    tags=["complaints"],
    operation_id="resolve_complaint",
)
def resolve_complaint(
    principal: Operator, item_id: ItemId, body: ResolutionIn, factory: Factory
) -> ComplaintOut:
    """Close the complaint with an outcome and write the final-response letter."""
    return _work(
        principal,
        item_id,
        factory,
        lambda session, ref: complaints.resolve(
            session, ref, body.outcome.value, body.response, utc_now()
        ),
    )


@router.post(
    "/complaints/{item_id}/deadlock",
    responses=ERRORS,
    tags=["complaints"],
    operation_id="deadlock_complaint",
)
def deadlock_complaint(
    principal: Operator, item_id: ItemId, body: DeadlockIn, factory: Factory
) -> ComplaintOut:
    """Close the complaint without agreement; the customer may go to the regulator."""
    return _work(
        principal,
        item_id,
        factory,
        lambda session, ref: complaints.declare_deadlock(
            session, ref, body.response, utc_now()
        ),
    )


@router.get(
    "/compliance/report",
    responses=ERRORS,
    tags=["compliance"],
    operation_id="get_compliance_report",
)
def compliance_report(principal: Overseer, factory: Factory) -> ComplianceReportOut:
    """Run every automated check and return the status of each provision of the Code."""
    with factory() as session:
        # NOTE: the checks cover the whole store, which serves one aggregator.
        report = compliance.evaluate(session, utc_now())
    return ComplianceReportOut.model_validate(report)


def load_signing_key() -> Any:
    """Return the bundle signing key, or raise a 503 naming who must configure it."""
    try:
        return signing.load_private_key(None)
    except KeyConfigError as exc:
        raise SigningKeyMissing(
            "record bundles cannot be signed on this server: the aggregator "
            f"must configure its signing key ({exc.message})",
            field="key",
        ) from exc


def request_records(
    principal: Principal, body: RecordRequestIn, factory: Any
) -> RecordRequest:
    """Store a record request with its bundle; shared by the API and the pages."""
    key = load_signing_key()
    with transaction(factory) as session:
        return record_requests.create_request(
            session,
            account_id=principal.account_id,
            jurisdiction=principal.jurisdiction or "",
            requested=record_requests.RecordScope(
                body.customer_reference, body.event_id, body.start, body.end
            ),
            reason=body.reason,
            key=key,
            at=utc_now(),
        )


@router.post(
    "/record-requests",
    status_code=201,
    responses=ERRORS,
    tags=["record-requests"],
    operation_id="create_record_request",
)
def post_record_request(
    principal: Regulator, body: RecordRequestIn, factory: Factory
) -> RecordRequestOut:
    """Request the signed records of a customer, an event or a date range."""
    return RecordRequestOut.model_validate(request_records(principal, body, factory))


def bundle_response(row: RecordRequest) -> Response:
    return Response(
        row.bundle_zip,
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="coflex-records-{row.id}.zip"'
        },
    )


@router.get(
    "/record-requests/{item_id}/bundle",
    response_class=Response,
    responses={
        **ERRORS,
        200: {"content": {"application/zip": {}}, "description": "The signed bundle."},
    },
    tags=["record-requests"],
    operation_id="get_record_bundle",
)
def get_bundle(principal: Regulator, item_id: ItemId, factory: Factory) -> Response:
    """Download the bundle: records, manifest, its Ed25519 signature and public key."""
    with factory() as session:
        row = fetch_visible(session, RECORD_REQUESTS, principal, item_id)
        return bundle_response(row)




@router.post(
    "/complaints/{item_id}/escalation",
    responses=ERRORS,
    tags=["complaints"],
    operation_id="escalate_complaint",
)
def escalate_complaint(
    principal: Customer_, item_id: ItemId, factory: Factory
) -> ComplaintOut:
    """Take your complaint to the regulator: after the escalation date or a deadlock."""
    return _work(
        principal,
        item_id,
        factory,
        lambda session, ref: complaints.escalate(session, ref, utc_now()),
    )


def build_router() -> APIRouter:
    routes = APIRouter()
    for resource in RESOURCES:
        register(routes, resource)
    routes.include_router(router)
    return routes
