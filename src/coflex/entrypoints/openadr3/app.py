"""The OpenADR 3.1 VTN as a FastAPI application.

Endpoints: ``/auth/server``, ``/auth/token``, ``/notifiers`` and the six
object collections ``/programs``, ``/events``, ``/reports``,
``/subscriptions``, ``/vens`` and ``/resources``, each with GET, POST and
GET/PUT/DELETE by ID. Errors are OpenADR ``problem`` objects; every rejected
request is recorded in ``openadr_rejections``.

References
----------
OpenADR Alliance, "OpenADR 3.1.0 Specification", openadr3.yaml.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session, sessionmaker

from coflex.entrypoints.openadr3.schemas import SCHEMAS
from coflex.entrypoints.openadr3.webhooks import (
    CallbackPolicy,
    Notifier,
)
from coflex.errors import CoflexError, InputError, NotFoundError, RuleViolation
from coflex.services import openadr3_vtn as vtn
from coflex.services.grid_requests import record_rejection

logger = logging.getLogger(__name__)

COLLECTIONS = {
    "programs": "PROGRAM",
    "events": "EVENT",
    "reports": "REPORT",
    "subscriptions": "SUBSCRIPTION",
    "vens": "VEN",
    "resources": "RESOURCE",
}
WRITE_SCOPE = {
    "PROGRAM": "write_programs",
    "EVENT": "write_events",
    "REPORT": "write_reports",
    "SUBSCRIPTION": "write_subscriptions",
    "VEN": "write_vens",
    "RESOURCE": "write_vens",
}
NAME_FIELD = {
    "PROGRAM": "programName",
    "EVENT": "eventName",
    "REPORT": "reportName",
    "SUBSCRIPTION": "clientName",
    "VEN": "venName",
    "RESOURCE": "resourceName",
}
READ_SCOPES = ("read_all", "read_targets", "read_ven_objects", "read_bl")
MAX_LIMIT = 50


def _problem(status: int, title: str, detail: str) -> JSONResponse:
    return JSONResponse(
        {"type": "about:blank", "title": title, "status": status, "detail": detail},
        status_code=status,
        media_type="application/problem+json",
    )


def _status(error: CoflexError) -> int:
    if isinstance(error, NotFoundError):
        return 404
    if isinstance(error, InputError):
        return 400
    if isinstance(error, RuleViolation):
        return 409
    return error.http_status


class Vtn:
    """Request handling of the VTN, bound to one store."""

    def __init__(self, factory: sessionmaker[Session], policy: CallbackPolicy) -> None:
        self.factory = factory
        self.policy = policy
        self.notifier = Notifier(factory, policy)

    def reject(self, request: Request, error: CoflexError) -> JSONResponse:
        status = _status(error)
        peer = request.client.host if request.client else None
        record_rejection(self.factory, "3.1", peer, error.code, status, error.message)
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
        response = _problem(status, error.code, error.message)
        response.headers.update(headers)
        return response

    def principal(self, request: Request) -> vtn.Principal:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise vtn.AuthError(
                "missing bearer token: fetch one from the token endpoint named by "
                "GET /auth/server",
                field="Authorization",
            )
        principal = vtn.authenticate(self.factory, token.strip(), datetime.now(UTC))
        if not principal.scopes.intersection(READ_SCOPES):
            raise vtn.ScopeError(
                f"client {principal.client_id} has no read scope", field="scope"
            )
        return principal


async def _json_body(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError as exc:
        raise InputError(
            f"request body is not JSON ({exc}): send an OpenADR object as JSON",
            field="body",
        ) from exc
    if not isinstance(body, dict):
        raise InputError("request body is not a JSON object", field="body")
    return body


def _validated(object_type: str, body: dict[str, Any]) -> dict[str, Any]:
    try:
        model = SCHEMAS[object_type].model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise InputError(
            f"invalid {object_type} field {where}: {first['msg']}; see the "
            "OpenADR 3.1.0 schema",
            value=where,
            field=where,
        ) from exc
    clean = dict(body)
    _normalise_times(clean, model)
    return clean


def _normalise_times(body: dict[str, Any], model: Any) -> None:
    """Write every interval start as a UTC date-time ending in Z."""
    period = getattr(model, "intervalPeriod", None)
    if period is not None:
        body["intervalPeriod"] = {
            **body["intervalPeriod"],
            "start": vtn.format_instant(period.start),
        }
    for key in ("intervals",):
        for raw, parsed in zip(
            body.get(key) or [], getattr(model, key, None) or [], strict=True
        ):
            if parsed.intervalPeriod is not None:
                raw["intervalPeriod"]["start"] = vtn.format_instant(
                    parsed.intervalPeriod.start
                )


def create_vtn_app(
    factory: sessionmaker[Session], policy: CallbackPolicy | None = None
) -> FastAPI:
    """Build the OpenADR 3.1 VTN on the store behind ``factory``."""
    handler = Vtn(factory, policy or CallbackPolicy())
    app = FastAPI(title="coflex OpenADR 3.1 VTN", version="3.1.0", docs_url=None)

    @app.exception_handler(CoflexError)
    async def _error(request: Request, error: CoflexError) -> Response:
        return handler.reject(request, error)

    _auth_routes(app, handler)
    from coflex.entrypoints.openadr3 import routes

    routes.add_object_routes(app, handler)
    return app


def _auth_routes(app: FastAPI, handler: Vtn) -> None:
    @app.get("/auth/server")
    async def auth_server(request: Request) -> dict[str, str]:
        return {"tokenURL": str(request.url_for("token"))}

    @app.post("/auth/token", name="token")
    async def token(request: Request) -> Response:
        form = await request.form()
        client_id, secret = _client_credentials(request, form)
        if form.get("grant_type") != "client_credentials":
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        try:
            access, scopes = vtn.issue_token(
                factory=handler.factory,
                client_id=client_id,
                secret=secret,
                requested=str(form.get("scope") or "") or None,
                now=datetime.now(UTC),
            )
        except vtn.AuthError as error:
            handler.reject(request, error)
            return JSONResponse(
                {"error": "invalid_client", "error_description": error.message},
                status_code=401,
                headers={"WWW-Authenticate": 'Basic realm="coflex"'},
            )
        return JSONResponse(
            {
                "access_token": access,
                "token_type": "Bearer",
                "expires_in": vtn.TOKEN_LIFETIME_S,
                "scope": scopes,
            },
            headers={"Cache-Control": "no-store"},
        )

    @app.get("/notifiers")
    async def notifiers(request: Request) -> dict[str, Any]:
        handler.principal(request)
        return {"WEBHOOK": True, "MQTT": None}


def _client_credentials(request: Request, form: Any) -> tuple[str, str]:
    """Read client credentials from an HTTP Basic header or from the form body.

    RFC 6749 §2.3.1 encodes both parts form-urlencoded inside Basic.
    """
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise vtn.AuthError(
                "malformed HTTP Basic credentials", field="Authorization"
            ) from exc
        client_id, _, secret = decoded.partition(":")
        return unquote(client_id), unquote(secret)
    return str(form.get("client_id") or ""), str(form.get("client_secret") or "")


Handler = Callable[..., Any]
