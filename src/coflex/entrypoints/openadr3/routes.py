"""The six object collections of the OpenADR 3.1 VTN, with object privacy."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from coflex.adapters.store.database import transaction
from coflex.adapters.store.models_openadr import Oa3Object
from coflex.errors import CoflexError, InputError, NotFoundError
from coflex.services import openadr3_vtn as vtn

if TYPE_CHECKING:
    from coflex.entrypoints.openadr3.app import Vtn

logger = logging.getLogger(__name__)

FILTERS = {"programID": "program_id", "eventID": "event_id", "venID": "ven_id"}


def add_object_routes(app: FastAPI, handler: Vtn) -> None:
    """Add GET, POST and GET/PUT/DELETE by ID for every collection."""
    from coflex.entrypoints.openadr3.app import COLLECTIONS

    for path, object_type in COLLECTIONS.items():
        _collection(app, handler, path, object_type)


def _collection(app: FastAPI, handler: Vtn, path: str, object_type: str) -> None:
    # NOTE: these handlers are async but query the store (and, for a new
    # subscription, wait up to 10 s for the echo) synchronously, so one slow
    # request stalls the others on the same worker.
    @app.get(f"/{path}", name=f"list_{path}")
    async def listing(request: Request) -> JSONResponse:
        principal = handler.principal(request)
        return JSONResponse(_list(handler, principal, object_type, request))

    @app.post(f"/{path}", name=f"create_{path}", status_code=201)
    async def create(request: Request) -> JSONResponse:
        from coflex.entrypoints.openadr3.app import _json_body

        principal = handler.principal(request)
        body = await _json_body(request)
        row = _create(handler, principal, object_type, body)
        handler.notifier.object_changed(row, "POST")
        return JSONResponse(row.body, status_code=201)

    @app.get(f"/{path}/{{object_id}}", name=f"get_{path}")
    async def read(request: Request, object_id: str) -> JSONResponse:
        principal = handler.principal(request)
        with handler.factory() as session:
            row = _visible(session, principal, object_type, object_id)
            return JSONResponse(row.body)

    @app.put(f"/{path}/{{object_id}}", name=f"update_{path}")
    async def update(request: Request, object_id: str) -> JSONResponse:
        from coflex.entrypoints.openadr3.app import _json_body

        principal = handler.principal(request)
        body = await _json_body(request)
        row = _update(handler, principal, object_type, object_id, body)
        handler.notifier.object_changed(row, "PUT")
        return JSONResponse(row.body)

    @app.delete(f"/{path}/{{object_id}}", name=f"delete_{path}")
    async def delete(request: Request, object_id: str) -> JSONResponse:
        principal = handler.principal(request)
        with transaction(handler.factory) as session:
            row = _writable(session, principal, object_type, object_id)
            session.delete(row)
        handler.notifier.object_changed(row, "DELETE")
        return JSONResponse(row.body)


def _list(
    handler: Vtn, principal: vtn.Principal, object_type: str, request: Request
) -> list[dict[str, Any]]:
    query = request.query_params
    skip, limit = _page(query.get("skip"), query.get("limit"))
    statement = select(Oa3Object).where(Oa3Object.object_type == object_type)
    for parameter, column in FILTERS.items():
        if query.get(parameter):
            statement = statement.where(getattr(Oa3Object, column) == query[parameter])
    wanted = set(query.getlist("targets"))
    with handler.factory() as session:
        targets = vtn.ven_targets(session, principal)
        rows = session.scalars(
            statement.order_by(Oa3Object.created_at, Oa3Object.id)
        ).all()
        visible = [
            row.body
            for row in rows
            if vtn.may_read(row, principal, targets)
            and (not wanted or wanted.intersection(row.targets))
            and _named(row, query.get("venName") or query.get("clientName"))
        ]
    return visible[skip : skip + limit]


def _named(row: Oa3Object, name: str | None) -> bool:
    return name is None or row.name == name or row.body.get("clientName") == name


def _page(skip: str | None, limit: str | None) -> tuple[int, int]:
    from coflex.entrypoints.openadr3.app import MAX_LIMIT

    try:
        first = int(skip or 0)
        count = int(limit or MAX_LIMIT)
    except ValueError as exc:
        raise InputError(
            f"skip {skip!r} or limit {limit!r} is not an integer", field="limit"
        ) from exc
    if first < 0 or not 0 < count <= MAX_LIMIT:
        raise InputError(
            f"skip {first} or limit {count} is out of range: give skip >= 0 and "
            f"limit from 1 to {MAX_LIMIT}",
            value=count,
            field="limit",
        )
    return first, count


def _visible(
    session: Session, principal: vtn.Principal, object_type: str, object_id: str
) -> Oa3Object:
    row = session.get(Oa3Object, object_id)
    if (
        row is None
        or row.object_type != object_type
        or not vtn.may_read(row, principal, vtn.ven_targets(session, principal))
    ):
        raise NotFoundError(
            f"{object_type} {object_id!r} not found: list the collection for the "
            "IDs you may read",
            value=object_id,
            field="id",
        )
    return row


def _writable(
    session: Session, principal: vtn.Principal, object_type: str, object_id: str
) -> Oa3Object:
    from coflex.entrypoints.openadr3.app import WRITE_SCOPE

    principal.require(WRITE_SCOPE[object_type])
    row = _visible(session, principal, object_type, object_id)
    if object_type in vtn.OWNED_TYPES and "read_all" not in principal.scopes:
        if row.client_id != principal.client_id:
            raise NotFoundError(f"{object_type} {object_id!r} not found", field="id")
    return row


def _links(
    session: Session, principal: vtn.Principal, object_type: str, body: dict[str, Any]
) -> dict[str, str | None]:
    """Check the objects that ``body`` refers to exist and are readable."""
    links: dict[str, str | None] = {}
    references = {
        "programID": ("PROGRAM", "program_id"),
        "eventID": ("EVENT", "event_id"),
        "venID": ("VEN", "ven_id"),
    }
    for field, (target_type, column) in references.items():
        value = body.get(field)
        if value is None:
            continue
        try:
            target = _visible(session, principal, target_type, str(value))
        except NotFoundError as exc:
            raise NotFoundError(
                f"{object_type} refers to {field} {value!r}, which does not "
                "exist or is not yours",
                value=value,
                field=field,
            ) from exc
        if target_type == "VEN" and target.client_id != principal.client_id:
            raise NotFoundError(f"{field} {value!r} is not yours", field=field)
        links[column] = str(value)
        if target_type == "EVENT":
            links["program_id"] = target.program_id
    return links


def _create(
    handler: Vtn, principal: vtn.Principal, object_type: str, body: dict[str, Any]
) -> Oa3Object:
    from coflex.entrypoints.openadr3.app import NAME_FIELD, WRITE_SCOPE, _validated

    principal.require(WRITE_SCOPE[object_type])
    clean = _validated(object_type, body)
    if object_type == "SUBSCRIPTION":
        for operation in clean["objectOperations"]:
            check_and_echo(handler, operation["callbackUrl"])
    now = datetime.now(UTC)
    name = clean.get(NAME_FIELD[object_type])
    with transaction(handler.factory) as session:
        links = _links(session, principal, object_type, clean)
        if object_type == "VEN":
            _unique_ven_name(session, str(name))
        row = vtn.new_object(object_type, principal, clean, now, name=name, links=links)
        session.add(row)
    if object_type == "REPORT" and vtn.opted_out(clean):
        _opt_out(handler, principal, row, now)
    logger.info(
        "OpenADR 3 %s %s created by %s", object_type, row.id, principal.client_id
    )
    return row


def check_and_echo(handler: Vtn, url: str) -> None:
    from coflex.entrypoints.openadr3.webhooks import check_callback, verify_echo

    check_callback(url, handler.policy)
    verify_echo(url, handler.policy)


def _unique_ven_name(session: Session, name: str) -> None:
    taken = session.scalar(
        select(Oa3Object.id).where(
            Oa3Object.object_type == "VEN", Oa3Object.name == name
        )
    )
    if taken is not None:
        raise vtn.ConflictError(
            f"venName {name!r} is already registered: pick another name or GET "
            "/vens to find your VEN",
            value=name,
            field="venName",
        )


def _update(
    handler: Vtn,
    principal: vtn.Principal,
    object_type: str,
    object_id: str,
    body: dict[str, Any],
) -> Oa3Object:
    from coflex.entrypoints.openadr3.app import NAME_FIELD, _validated

    clean = _validated(object_type, body)
    now = datetime.now(UTC)
    with transaction(handler.factory) as session:
        row = _writable(session, principal, object_type, object_id)
        kept = {
            k: row.body[k]
            for k in ("id", "objectType", "createdDateTime", "clientID")
            if k in row.body
        }
        row.body = {**clean, **kept, "modificationDateTime": vtn.format_instant(now)}
        row.name = clean.get(NAME_FIELD[object_type])
        row.targets = list(clean.get("targets") or [])
        row.modified_at = now
        session.flush()
        session.expunge(row)
    return row


def _opt_out(
    handler: Vtn, principal: vtn.Principal, report: Oa3Object, now: datetime
) -> None:
    """Turn a VEN's opted-out report into a coflex override, or log why not."""
    with handler.factory() as session:
        event = session.get(Oa3Object, report.event_id) if report.event_id else None
        coflex_event = event.coflex_event_id if event is not None else None
    if coflex_event is None or principal.site_id is None:
        logger.warning(
            "opt-out report %s names no coflex event or site; kept as a report",
            report.id,
        )
        return
    try:
        status = vtn.record_opt_out(
            handler.factory, coflex_event, principal.site_id, now
        )
    except CoflexError as error:
        logger.warning("opt-out report %s not applied: %s", report.id, error.message)
        return
    logger.info("opt-out report %s recorded as override (%s)", report.id, status)
