"""API routes for the claims registry, sales material and enrollment documents.

Staff (operators and sales representatives) read every claim and material
version; an operator reviews and withdraws claims. A customer reads their own
proposals, Key Facts and contract terms; staff read those of their
aggregator's customers.
"""

# Annotations stay evaluated: FastAPI reads them from the route functions.

from datetime import date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field, computed_field
from sqlalchemy import true

from coflex.adapters.store.database import transaction
from coflex.adapters.store.models_enrollment import (
    ClaimRecord,
    EnrollmentDocument,
    Material,
)
from coflex.entrypoints.web.api import (
    ERRORS,
    Factory,
    ItemId,
    Resource,
    fetch_visible,
    register,
)
from coflex.entrypoints.web.scope import customer_ids
from coflex.entrypoints.web.schemas import MAX_ID, Filters, Out
from coflex.entrypoints.web.security import api_roles
from coflex.services import claims
from coflex.services.accounts import Principal, Role, utc_now

R = Role
STAFF = (R.OPERATOR, R.SALES_REPRESENTATIVE)
Operator = Annotated[Principal, Depends(api_roles(R.OPERATOR))]


def claim_status(row: ClaimRecord, today: date) -> str:
    """Return withdrawn, expired, unreviewed or usable; only usable may be published."""
    if row.withdrawn_at is not None:
        return "withdrawn"
    if row.expires_on < today:
        return "expired"
    if row.reviewed_at is None:
        return "unreviewed"
    return "usable"


class ClaimOut(Out):
    id: int
    statement: str
    kind: str
    value: float
    unit: str
    source: str
    method: str
    assumptions: str
    population: str
    as_of: date
    expires_on: date
    risk_statement: str | None
    reviewer: str | None
    reviewed_at: datetime | None
    withdrawn_at: datetime | None
    withdrawn_reason: str | None
    created_at: datetime

    @computed_field(  # type: ignore[prop-decorator]
        description="usable, unreviewed, expired or withdrawn, as of today"
    )
    @property
    def status(self) -> str:
        return claim_status(self, utc_now().date())  # type: ignore[arg-type]


class ClaimFilters(Filters):
    kind: str | None = Field(None, max_length=16)


class MaterialOut(Out):
    id: int
    name: str
    kind: str
    version: int
    body: str
    content_hash: str
    status: str = Field(description="draft, published or withdrawn")
    created_at: datetime
    published_at: datetime | None
    withdrawn_at: datetime | None
    withdrawn_reason: str | None


class MaterialFilters(Filters):
    name: str | None = Field(None, max_length=200)
    status: Literal["draft", "published", "withdrawn"] | None = None


class EnrollmentDocumentOut(Out):
    id: int
    customer_id: int
    contract_id: int | None
    kind: str = Field(description="proposal, key_facts, terms or final_statement")
    content_hash: str
    parameters_hash: str
    issued_at: datetime


class EnrollmentDocumentFilters(Filters):
    customer_id: int | None = Field(None, ge=1, le=MAX_ID)
    contract_id: int | None = Field(None, ge=1, le=MAX_ID)
    kind: Literal["proposal", "key_facts", "terms", "final_statement"] | None = None


CLAIMS = Resource(
    "claims", "claim", ClaimRecord, ClaimOut, ClaimFilters, STAFF, lambda p: true()
)
MATERIALS = Resource(
    "materials",
    "material",
    Material,
    MaterialOut,
    MaterialFilters,
    STAFF,
    lambda p: true(),
)
DOCUMENTS = Resource(
    "enrollment-documents",
    "enrollment document",
    EnrollmentDocument,
    EnrollmentDocumentOut,
    EnrollmentDocumentFilters,
    (*STAFF, R.CUSTOMER),
    lambda p: EnrollmentDocument.customer_id.in_(customer_ids(p)),
)
RESOURCES = (CLAIMS, MATERIALS, DOCUMENTS)


class ReviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reviewer: str = Field(
        min_length=1, max_length=200, description="Who checked the source and method."
    )


class WithdrawalIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=300)


class WithdrawnOut(BaseModel):
    claim: ClaimOut
    materials_withdrawn: list[int] = Field(
        description="Ids of the material versions withdrawn with the claim."
    )


router = APIRouter()


@router.post(
    "/claims/{item_id}/review",
    responses=ERRORS,
    tags=["claims"],
    operation_id="review_claim",
)
def review_claim(
    principal: Operator, item_id: ItemId, body: ReviewIn, factory: Factory
) -> ClaimOut:
    """Record the sign-off, after which material using the claim may be published."""
    with transaction(factory) as session:
        row = fetch_visible(session, CLAIMS, principal, item_id)
        claims.review_claim(session, row.id, body.reviewer, utc_now())
        return ClaimOut.model_validate(row)


@router.post(
    "/claims/{item_id}/withdrawal",
    responses=ERRORS,
    tags=["claims"],
    operation_id="withdraw_claim",
)
def withdraw_claim(
    principal: Operator, item_id: ItemId, body: WithdrawalIn, factory: Factory
) -> WithdrawnOut:
    """Withdraw a claim and every material version that uses it."""
    with transaction(factory) as session:
        row = fetch_visible(session, CLAIMS, principal, item_id)
        withdrawn = claims.withdraw_claim(session, row.id, utc_now(), body.reason)
        return WithdrawnOut(
            claim=ClaimOut.model_validate(row), materials_withdrawn=withdrawn
        )


def document_html(
    principal: Annotated[Principal, Depends(api_roles(*DOCUMENTS.roles))],
    item_id: ItemId,
    factory: Factory,
) -> HTMLResponse:
    """Return an enrollment document as the customer received it."""
    from coflex.services.offers import document_text

    with factory() as session:
        row = fetch_visible(session, DOCUMENTS, principal, item_id)
        return HTMLResponse(document_text(row))


def build_router() -> APIRouter:
    routes = APIRouter()
    for resource in RESOURCES:
        register(routes, resource)
    routes.include_router(router)
    routes.add_api_route(
        "/enrollment-documents/{item_id}/document",
        document_html,
        methods=["GET"],
        response_class=HTMLResponse,
        responses=ERRORS,
        tags=["enrollment-documents"],
        operation_id="get_enrollment_document_html",
    )
    return routes
