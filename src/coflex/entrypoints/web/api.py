"""The REST API, version 1: read the store within the account's scope.

Every list is ordered by ascending id and paged with ``limit`` and ``after``;
its filters are equality tests on the named columns. Unknown query parameters
and body fields are rejected, so a typo never silently widens a query.
"""

# Annotations stay evaluated here: FastAPI reads the types of the route
# functions that :func:`register` builds in a closure.

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import HTMLResponse
from pydantic import BaseModel
from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session, sessionmaker

from coflex.adapters.store.models import (
    Aggregator,
    Base,
    Consent,
    Contract,
    Customer,
    Device,
    DeviceCommand,
    Event,
    FlexibilityRequest,
    Notice,
    Override,
    Program,
    Site,
    Statement,
)
from coflex.entrypoints.web import schemas, scope
from coflex.entrypoints.web.errors import ErrorBody
from coflex.entrypoints.web.security import api_roles, session_factory
from coflex.services.accounts import NotFound, Principal, Role

R = Role
ItemId = Annotated[int, Path(ge=1, le=schemas.MAX_ID)]
Factory = Annotated[sessionmaker[Session], Depends(session_factory)]
ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": text}
    for status, text in (
        (401, "Missing, invalid or expired bearer token"),
        (403, "The account's role may not use this route"),
        (404, "No such object within the account's scope"),
        (422, "Invalid input"),
    )
}


@dataclass(frozen=True)
class Resource:
    """A stored table exposed read-only, with who may read which rows."""

    path: str
    label: str
    model: type[Base]
    schema: type[BaseModel]
    filters: type[schemas.Filters]
    roles: tuple[Role, ...]
    visible: Callable[[Principal], ColumnElement[bool]]


def _device_scope(p: Principal) -> ColumnElement[bool]:
    if p.role is Role.DEVICE:
        return Device.id == p.device_id
    return Device.site_id.in_(scope.site_ids(p))


def _command_scope(p: Principal) -> ColumnElement[bool]:
    if p.role is Role.DEVICE:
        return DeviceCommand.device_id == p.device_id
    return DeviceCommand.event_id.in_(scope.operator_events(p))


def _override_scope(p: Principal) -> ColumnElement[bool]:
    if p.role is Role.CUSTOMER:
        return Override.site_id.in_(scope.site_ids(p))
    return Override.event_id.in_(scope.operator_events(p))


def _by_customer(column: Any) -> Callable[[Principal], ColumnElement[bool]]:
    return lambda p: column.in_(scope.customer_ids(p))


STAFF = (R.OPERATOR, R.SALES_REPRESENTATIVE)
RESOURCES = (
    Resource(
        "aggregators",
        "aggregator",
        Aggregator,
        schemas.AggregatorOut,
        schemas.Filters,
        (*STAFF, R.GRID_OPERATOR, R.REGULATOR),
        lambda p: Aggregator.id.in_(scope.aggregator_ids(p)),
    ),
    Resource(
        "programs",
        "program",
        Program,
        schemas.ProgramOut,
        schemas.ProgramFilters,
        (*STAFF, R.GRID_OPERATOR, R.REGULATOR, R.CUSTOMER),
        lambda p: Program.id.in_(scope.program_ids(p)),
    ),
    Resource(
        "customers",
        "customer",
        Customer,
        schemas.CustomerOut,
        schemas.CustomerFilters,
        (*STAFF, R.CUSTOMER),
        _by_customer(Customer.id),
    ),
    Resource(
        "sites",
        "site",
        Site,
        schemas.SiteOut,
        schemas.SiteFilters,
        (*STAFF, R.CUSTOMER),
        _by_customer(Site.customer_id),
    ),
    Resource(
        "devices",
        "device",
        Device,
        schemas.DeviceOut,
        schemas.DeviceFilters,
        (*STAFF, R.CUSTOMER, R.DEVICE),
        _device_scope,
    ),
    Resource(
        "contracts",
        "contract",
        Contract,
        schemas.ContractOut,
        schemas.ContractFilters,
        (*STAFF, R.CUSTOMER),
        _by_customer(Contract.customer_id),
    ),
    Resource(
        "consents",
        "consent",
        Consent,
        schemas.ConsentOut,
        schemas.ConsentFilters,
        (*STAFF, R.CUSTOMER),
        _by_customer(Consent.customer_id),
    ),
    Resource(
        "flexibility-requests",
        "flexibility request",
        FlexibilityRequest,
        schemas.FlexibilityRequestOut,
        schemas.FlexibilityRequestFilters,
        (R.OPERATOR, R.GRID_OPERATOR, R.REGULATOR),
        lambda p: FlexibilityRequest.id.in_(
            select(Event.request_id).where(Event.id.in_(scope.event_ids(p)))
        ),
    ),
    Resource(
        "events",
        "event",
        Event,
        schemas.EventOut,
        schemas.EventFilters,
        (R.OPERATOR, R.GRID_OPERATOR, R.REGULATOR, R.CUSTOMER),
        lambda p: Event.id.in_(scope.event_ids(p)),
    ),
    Resource(
        "notices",
        "notice",
        Notice,
        schemas.NoticeOut,
        schemas.NoticeFilters,
        (R.OPERATOR, R.CUSTOMER),
        lambda p: Notice.customer_id.in_(scope.customer_ids(p)),
    ),
    Resource(
        "overrides",
        "override",
        Override,
        schemas.OverrideOut,
        schemas.OverrideFilters,
        (R.OPERATOR, R.CUSTOMER),
        _override_scope,
    ),
    Resource(
        "statements",
        "statement",
        Statement,
        schemas.StatementOut,
        schemas.StatementFilters,
        (R.OPERATOR, R.CUSTOMER),
        _by_customer(Statement.customer_id),
    ),
    Resource(
        "device-commands",
        "device command",
        DeviceCommand,
        schemas.DeviceCommandOut,
        schemas.DeviceCommandFilters,
        (R.OPERATOR, R.DEVICE),
        _command_scope,
    ),
)


def _list_statement(resource: Resource, principal: Principal, query: Any) -> Any:
    model: Any = resource.model
    statement = select(model).where(resource.visible(principal))
    for name, value in query.model_dump(exclude={"limit", "after"}).items():
        if value is not None:
            statement = statement.where(getattr(model, name) == value)
    return statement.where(model.id > query.after).order_by(model.id).limit(query.limit)


def fetch_visible(
    session: Session, resource: Resource, principal: Principal, item_id: int
) -> Any:
    """Return one row within the account's scope, else raise NotFound."""
    model: Any = resource.model
    row = session.scalar(
        select(model).where(model.id == item_id, resource.visible(principal))
    )
    if row is None:
        raise NotFound(
            f"{resource.label} {item_id} not found: list /{resource.path} for the "
            "ids you may see",
            value=item_id,
            field="id",
        )
    return row


def register(router: APIRouter, resource: Resource) -> None:
    """Add the list and item routes of ``resource`` to ``router``."""
    Schema: Any = resource.schema
    Query_: Any = resource.filters
    allowed = Depends(api_roles(*resource.roles))

    def list_items(
        principal: Annotated[Principal, allowed],
        query: Annotated[Query_, Query()],
        factory: Factory,
    ) -> schemas.Page[Schema]:
        with factory() as session:
            rows = session.scalars(_list_statement(resource, principal, query)).all()
        items = [Schema.model_validate(row) for row in rows]
        full = len(rows) == query.limit
        return schemas.Page[Schema](
            items=items, next_after=rows[-1].id if full and rows else None
        )

    def get_item(
        principal: Annotated[Principal, allowed], item_id: ItemId, factory: Factory
    ) -> Schema:
        with factory() as session:
            return Schema.model_validate(
                fetch_visible(session, resource, principal, item_id)
            )

    summary = resource.label
    router.add_api_route(
        f"/{resource.path}",
        list_items,
        methods=["GET"],
        responses=ERRORS,
        summary=f"List {summary}s",
        operation_id=f"list_{resource.path}",
        tags=[resource.path],
    )
    router.add_api_route(
        f"/{resource.path}/{{item_id}}",
        get_item,
        methods=["GET"],
        responses=ERRORS,
        summary=f"Get one {summary}",
        operation_id=f"get_{resource.path}",
        tags=[resource.path],
    )


def statement_document(
    principal: Annotated[Principal, Depends(api_roles(R.OPERATOR, R.CUSTOMER))],
    item_id: ItemId,
    factory: Factory,
) -> HTMLResponse:
    """Return a statement as the participant received it, with its charts."""
    with factory() as session:
        row = fetch_visible(session, RESOURCE_BY_PATH["statements"], principal, item_id)
        return HTMLResponse(row.html)


RESOURCE_BY_PATH = {r.path: r for r in RESOURCES}


def build_router() -> APIRouter:
    router = APIRouter()
    for resource in RESOURCES:
        register(router, resource)
    router.add_api_route(
        "/statements/{item_id}/document",
        statement_document,
        methods=["GET"],
        response_class=HTMLResponse,
        responses=ERRORS,
        tags=["statements"],
        operation_id="get_statement_document",
    )
    return router
