"""API routes of customers' data rights: export, consents, correction, deletion.

A customer acts on their own record only, operators and sales representatives
on their aggregator's customers; a regulator reads the privacy requests of the
aggregators in its jurisdiction and changes nothing. Every action leaves a
privacy request row and an audit record.
"""

# Annotations stay evaluated: FastAPI reads them from the route functions.

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from coflex.adapters.store.database import transaction
from coflex.adapters.store.models import Customer
from coflex.adapters.store.models_governance import PrivacyRequest
from coflex.entrypoints.web import schemas, scope
from coflex.entrypoints.web.api import ERRORS, Factory
from coflex.entrypoints.web.security import api_roles
from coflex.errors import InputError
from coflex.services import privacy, privacy_export, privacy_requests
from coflex.services.accounts import NotFound, Principal, Role, utc_now

router = APIRouter(tags=["privacy"])
CustomerId = Annotated[int, Path(ge=1, le=schemas.MAX_ID)]
# Roles that act on a customer's data: the customer and the aggregator's staff.
Actor = Annotated[
    Principal,
    Depends(api_roles(Role.CUSTOMER, Role.OPERATOR, Role.SALES_REPRESENTATIVE)),
]
Reader = Annotated[
    Principal,
    Depends(
        api_roles(
            Role.CUSTOMER, Role.OPERATOR, Role.SALES_REPRESENTATIVE, Role.REGULATOR
        )
    ),
]


class ConsentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    purpose: str = Field(max_length=32)
    recipient: str | None = Field(None, max_length=200)
    expires_at: AwareDatetime | None = None


class CorrectionIn(BaseModel):
    """The fields to correct; a field left out is unchanged, null clears it."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, max_length=200)
    email: str | None = Field(None, max_length=200)
    phone: str | None = Field(None, max_length=32)
    postal_address: str | None = Field(None, max_length=500)


class CorrectionOut(BaseModel):
    corrected: list[str]


class DeletionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    confirm: bool = Field(description="Must be true: the erasure cannot be undone.")


class DeletionOut(BaseModel):
    customer_reference: str
    pseudonym: str
    erased: dict[str, int]
    kept: dict[str, str]


class PrivacyRequestOut(schemas.Out):
    id: int
    customer_id: int
    kind: str
    received_at: datetime
    completed_at: datetime | None
    outcome: str


def actor_name(principal: Principal) -> str:
    return f"{principal.role.value}:{principal.account_id}"


def own_customer(session: Session, principal: Principal, customer_id: int) -> Customer:
    """Return the customer if the account may act on it, else raise NotFound."""
    customer = session.scalar(
        select(Customer).where(
            Customer.id == customer_id, Customer.id.in_(scope.customer_ids(principal))
        )
    )
    if customer is None:
        raise NotFound(
            f"customer {customer_id} not found: list /customers for the ids you may "
            "see",
            value=customer_id,
            field="customer_id",
        )
    return customer


@router.get(
    "/customers/{item_id}/export",
    responses={
        **ERRORS,
        200: {"content": {m: {} for m in privacy_export.MEDIA_TYPES.values()}},
    },
    operation_id="export_customer_data",
)
def export(
    principal: Actor,
    item_id: CustomerId,
    factory: Factory,
    export_format: Annotated[str, Query(alias="format", max_length=16)] = "json",
    start: Annotated[
        date | None, Query(description="First local day of meter data.")
    ] = None,
    end: Annotated[
        date | None, Query(description="Last local day of meter data.")
    ] = None,
) -> Response:
    """Download everything held on the customer: json, csv (zip) or greenbutton (XML).

    A Green Button export of a range with no meter data returns 404 with the
    range in the message; JSON and CSV exports list it under findings.
    """
    chosen = privacy_export.parse_format(export_format)
    days = privacy_export.DateRange(start, end)
    with transaction(factory) as session:
        customer = own_customer(session, principal, item_id)
        result = privacy_export.export_customer(
            session, customer, chosen, days, actor=actor_name(principal), at=utc_now()
        )
    return Response(
        result.content,
        media_type=result.media_type,
        headers={"Content-Disposition": f'attachment; filename="{result.filename}"'},
    )


@router.post(
    "/customers/{item_id}/consents",
    status_code=201,
    responses=ERRORS,
    operation_id="grant_consent",
)
def grant(
    principal: Actor, item_id: CustomerId, body: ConsentIn, factory: Factory
) -> schemas.ConsentOut:
    """Record the customer's consent for one purpose."""
    with transaction(factory) as session:
        customer = own_customer(session, principal, item_id)
        row = privacy.grant_consent(
            session,
            privacy.Grant(
                customer.reference,
                body.purpose,
                scope="api",
                channel="api",
                granted_at=utc_now(),
                expires_at=body.expires_at,
                recipient=body.recipient,
            ),
        )
        return schemas.ConsentOut.model_validate(row)


@router.delete(
    "/customers/{item_id}/consents/{purpose}",
    responses=ERRORS,
    operation_id="revoke_consent",
)
def revoke(
    principal: Actor,
    item_id: CustomerId,
    purpose: Annotated[str, Path(max_length=32)],
    factory: Factory,
) -> dict[str, list[int]]:
    """Revoke every live consent of the customer for ``purpose``."""
    with transaction(factory) as session:
        customer = own_customer(session, principal, item_id)
        return {
            "revoked": privacy.revoke_consent(
                session, customer.reference, purpose, utc_now()
            )
        }


@router.post(
    "/customers/{item_id}/corrections",
    responses=ERRORS,
    operation_id="correct_personal_data",
)
def correct(
    principal: Actor, item_id: CustomerId, body: CorrectionIn, factory: Factory
) -> CorrectionOut:
    """Correct the customer's name, email, phone or postal address."""
    changes: dict[str, Any] = body.model_dump(exclude_unset=True)
    with transaction(factory) as session:
        customer = own_customer(session, principal, item_id)
        fields = privacy_requests.correct(
            session, customer, changes, actor=actor_name(principal), at=utc_now()
        )
    return CorrectionOut(corrected=fields)


@router.post(
    "/customers/{item_id}/deletion",
    responses=ERRORS,
    operation_id="delete_personal_data",
)
def delete(
    principal: Actor, item_id: CustomerId, body: DeletionIn, factory: Factory
) -> DeletionOut:
    """Erase the customer's personal data; what retention keeps is anonymised.

    Refused with 409 while an event involving the customer is planned,
    notified or running.
    """
    if not body.confirm:
        raise InputError(
            "deletion cannot be undone: send confirm true", field="confirm"
        )
    with transaction(factory) as session:
        customer = own_customer(session, principal, item_id)
        result = privacy_requests.delete_customer(
            session, customer, actor=actor_name(principal), at=utc_now()
        )
    return DeletionOut(**result.__dict__)


@router.get(
    "/privacy-requests",
    responses=ERRORS,
    operation_id="list_privacy_requests",
)
def list_requests(
    principal: Reader,
    factory: Factory,
    customer_id: Annotated[int | None, Query(ge=1, le=schemas.MAX_ID)] = None,
) -> list[PrivacyRequestOut]:
    """List export, correction and deletion requests within the account's scope."""
    if principal.role is Role.REGULATOR:
        visible = select(Customer.id).where(
            Customer.aggregator_id.in_(scope.aggregator_ids(principal))
        )
    else:
        visible = scope.customer_ids(principal)
    query = select(PrivacyRequest).where(PrivacyRequest.customer_id.in_(visible))
    if customer_id is not None:
        query = query.where(PrivacyRequest.customer_id == customer_id)
    with factory() as session:
        rows = session.scalars(query.order_by(PrivacyRequest.id).limit(500))
        return [PrivacyRequestOut.model_validate(r) for r in rows]
