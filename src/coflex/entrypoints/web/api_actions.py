"""API routes that change the store: tokens, requests, overrides, acknowledgements."""

# Annotations stay evaluated: FastAPI reads them from the route functions.

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.security import HTTPAuthorizationCredentials
from sqlalchemy import select
from sqlalchemy.orm import Session

from coflex.adapters.store.database import transaction
from coflex.adapters.store.models import (
    DeviceCommand,
    Event,
    Program,
)
from coflex.adapters.store.models import FlexibilityRequest as RequestRow
from coflex.adapters.store.models_web import ApiToken, PendingOverride
from coflex.domain.operations.requests import FlexibilityRequest, validate_request
from coflex.domain.programs import ProgramTerms
from coflex.entrypoints.web import schemas, scope
from coflex.entrypoints.web.api import ERRORS, RESOURCE_BY_PATH, Factory, ItemId
from coflex.entrypoints.web.api import fetch_visible as fetch
from coflex.entrypoints.web.errors import ErrorBody
from coflex.entrypoints.web.rate_limits import (
    admit_sign_in,
    admit_write,
    count_failed_sign_in,
)
from coflex.entrypoints.web.security import _bearer, api_roles
from coflex.services import override_inbox, request_limits
from coflex.services.accounts import (
    AuthenticationError,
    NotFound,
    Principal,
    Role,
    authenticate,
    digest,
    issue_token,
    utc_now,
)
from coflex.services.events import receive_request

router = APIRouter()
LIMITED = {
    **ERRORS,
    429: {
        "model": ErrorBody,
        "description": "Too many requests: retry after the Retry-After seconds",
    },
}
Customer = Annotated[Principal, Depends(api_roles(Role.CUSTOMER))]
GridOperator = Annotated[Principal, Depends(api_roles(Role.GRID_OPERATOR))]
DeviceAccount = Annotated[Principal, Depends(api_roles(Role.DEVICE))]
AnyAccount = Annotated[Principal, Depends(api_roles(*Role))]


@router.post(
    "/tokens",
    status_code=201,
    responses=LIMITED,
    tags=["accounts"],
    operation_id="create_token",
)
def create_token(
    request: Request, body: schemas.TokenIn, factory: Factory
) -> schemas.TokenOut:
    """Exchange a username and password for a bearer token (valid 30 days).

    Wrong passwords and requests from one client address are rate-limited:
    over a limit the reply is 429 with a Retry-After header.
    """
    now = utc_now()
    admit_sign_in(request, body.username, "token_attempts_per_address")
    try:
        with transaction(factory) as session:
            account = authenticate(session, body.username, body.password)
            token = issue_token(session, account, body.name, now)
            row = session.scalar(
                select(ApiToken).where(ApiToken.token_sha256 == digest(token))
            )
            expires = row.expires_at if row is not None else now
    except AuthenticationError:
        count_failed_sign_in(request, body.username)
        raise
    return schemas.TokenOut(token=token, expires_at=expires)


@router.delete(
    "/tokens/current",
    status_code=204,
    responses=ERRORS,
    tags=["accounts"],
    operation_id="revoke_current_token",
)
def revoke_token(
    principal: AnyAccount,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    factory: Factory,
) -> None:
    """Revoke the token that authenticates this request."""
    assert credentials is not None
    with transaction(factory) as session:
        row = session.scalar(
            select(ApiToken).where(
                ApiToken.token_sha256 == digest(credentials.credentials)
            )
        )
        if row is not None:
            row.revoked_at = utc_now()


def _program_terms(
    session: Session, principal: Principal, program_id: int
) -> ProgramTerms:
    program = session.scalar(
        select(Program).where(
            Program.id == program_id, Program.id.in_(scope.program_ids(principal))
        )
    )
    if program is None:
        raise NotFound(
            f"program {program_id} not found: list /programs for the programs "
            "you may send requests to",
            value=program_id,
            field="program_id",
        )
    return ProgramTerms.from_json(program.terms)


@router.post(
    "/flexibility-requests",
    status_code=201,
    responses=ERRORS,
    tags=["flexibility-requests"],
    operation_id="submit_flexibility_request",
)
def submit_request(
    principal: GridOperator, body: schemas.FlexibilityRequestIn, factory: Factory
) -> schemas.SubmittedRequestOut:
    """Submit a request to reduce load; it opens an event of the program.

    The request is validated against the program's terms (window, length,
    event class, a start after its receipt), its season and season caps, and
    the fleet's rated power before anything is stored.
    """
    request = FlexibilityRequest(
        requester=principal.display_name,
        received_at=utc_now(),
        start=body.start,
        end=body.end,
        target_kw=body.target_kw,
        event_class=body.event_class,
    )
    with factory() as session:
        terms = _program_terms(session, principal, body.program_id)
        validate_request(request, terms)
        program = session.get(Program, body.program_id)
        assert program is not None
        request_limits.check_request(session, program, terms, request)
    event_id = receive_request(factory, body.program_id, terms, request)
    with factory() as session:
        event = session.get(Event, event_id)
        assert event is not None
        row = session.get(RequestRow, event.request_id)
        return schemas.SubmittedRequestOut(
            request=schemas.FlexibilityRequestOut.model_validate(row),
            event_id=event_id,
        )


def _override_out(status: override_inbox.OverrideStatus) -> schemas.OverrideRequestOut:
    return schemas.OverrideRequestOut(
        id=status.request_id,
        event_id=status.event_id,
        site_id=status.site_id,
        status=status.status,
        requested_at=status.requested_at,
        honoured_at=status.honoured_at,
    )


@router.post(
    "/overrides",
    status_code=202,
    responses=LIMITED,
    tags=["overrides"],
    operation_id="request_override",
)
def request_override(
    request: Request, principal: Customer, body: schemas.OverrideIn, factory: Factory
) -> schemas.OverrideRequestOut:
    """Stop a running event at one of your sites; honoured within 60 seconds.

    The reply comes at once with status ``pending``; poll the returned
    request until its status is ``honoured``. Pressing again returns the
    same request.
    """
    admit_write(request, "override_writes_per_account", principal.account_id)
    with factory() as session:
        fetch(session, RESOURCE_BY_PATH["sites"], principal, body.site_id)
    status = override_inbox.request_override(
        factory,
        body.event_id,
        body.site_id,
        account_id=principal.account_id,
        channel="app",
        now=utc_now(),
    )
    return _override_out(status)


@router.get(
    "/override-requests/{item_id}",
    responses=ERRORS,
    tags=["overrides"],
    operation_id="get_override_request",
)
def get_override_request(
    principal: Customer, item_id: ItemId, factory: Factory
) -> schemas.OverrideRequestOut:
    """Return whether an override request has been honoured."""
    with factory() as session:
        row = session.scalar(
            select(PendingOverride).where(
                PendingOverride.id == item_id,
                PendingOverride.site_id.in_(scope.site_ids(principal)),
            )
        )
        if row is None:
            raise NotFound(
                f"override request {item_id} not found: use the id that "
                "POST /overrides returned",
                value=item_id,
                field="id",
            )
        return _override_out(override_inbox._status(row))


@router.post(
    "/device-commands/{item_id}/acknowledgement",
    responses=ERRORS,
    tags=["device-commands"],
    operation_id="acknowledge_device_command",
)
def acknowledge_command(
    principal: DeviceAccount, item_id: ItemId, factory: Factory
) -> schemas.DeviceCommandOut:
    """Record that the device carried out a command; repeats keep the first time."""
    with transaction(factory) as session:
        row = fetch(session, RESOURCE_BY_PATH["device-commands"], principal, item_id)
        assert isinstance(row, DeviceCommand)
        if row.acknowledged_at is None:
            row.acknowledged_at = utc_now()
        return schemas.DeviceCommandOut.model_validate(row)
