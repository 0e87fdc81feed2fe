"""The web application: pages at /, the API at /api/v1, both on one store.

:func:`create_app` is the composition root of the web entry point: it opens
the database, applies the migrations and wires the routers.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from coflex.adapters.store.crypto import load_keyring
from coflex.adapters.store.database import migrate, open_engine, session_factory
from coflex.entrypoints.openadr3.app import create_vtn_app
from coflex.entrypoints.web import (
    api,
    api_actions,
    api_docs,
    api_enrollment,
    api_governance,
    api_privacy,
    api_event_changes,
    pages,
    pages_account,
    pages_automation,
    pages_complaints,
    pages_customer,
    pages_governance,
    pages_operator,
    pages_privacy,
    pages_optout,
    pages_regulator,
)
from coflex.entrypoints.web.errors import (
    BodyLimit,
    _field_of,
    install_error_handlers,
)
from coflex.entrypoints.web.rate_limits import RateLimited, RateLimits
from coflex.entrypoints.web.security import LoginRequired
from coflex.entrypoints.web.templating import templates
from coflex.errors import CoflexError
from coflex.services import audit_anchors

logger = logging.getLogger(__name__)

_STATIC = Path(__file__).resolve().parent / "static"
# Pages carry no script; statements and reports use inline styles and SVG.
SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'self'; script-src 'none'; style-src 'self' 'unsafe-inline'; "
        b"img-src 'self' data:; frame-ancestors 'none'; form-action 'self'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
]


class SecurityHeaders:
    """ASGI middleware that adds the security headers to every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + SECURITY_HEADERS
            await send(message)

        await self.app(scope, receive, with_headers)


def _api_app(state: dict[str, object]) -> FastAPI:
    api_app = FastAPI(
        title="coflex API",
        version="1",
        description="Programs, customers, sites, devices, contracts, consents, "
        "flexibility requests, events, notices, overrides and statements of a DER "
        "aggregator, each visible only to the accounts that own it.",
        openapi_url="/openapi.json",
        # Swagger UI needs scripts, which the pages' CSP forbids; /docs is a
        # server-rendered reference of the same OpenAPI document instead.
        docs_url=None,
        redoc_url=None,
    )
    for key, value in state.items():
        setattr(api_app.state, key, value)
    install_error_handlers(api_app)
    api_app.include_router(api.build_router())
    api_app.include_router(api_actions.router)
    api_app.include_router(api_enrollment.build_router())
    api_app.include_router(api_governance.build_router())
    api_app.include_router(api_privacy.router)
    api_app.include_router(api_docs.router)
    api_app.include_router(api_event_changes.router)
    return api_app


async def _to_login(request: Request, exc: Exception) -> Response:
    return RedirectResponse("/login", status_code=303)


async def _page_error(request: Request, exc: Exception) -> Response:
    if isinstance(exc, CoflexError):
        status, message = exc.http_status, exc.message
    else:
        assert isinstance(exc, HTTPException)
        status, message = exc.status_code, str(exc.detail)
    response = templates.TemplateResponse(
        request,
        "error.html",
        {"message": message, "status": status},
        status_code=status,
    )
    if isinstance(exc, RateLimited):
        response.headers["Retry-After"] = str(exc.retry_after_s)
    return response


async def _page_invalid_form(request: Request, exc: Exception) -> Response:
    """Return a page that names the missing or invalid field of a form."""
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {}
    field = _field_of(first.get("loc", ())) or "form"
    if field == "csrf_token":
        message = (
            "The form expired or came from another site. Reload the page and "
            "try again."
        )
    else:
        message = (
            f"The field {field!r} is missing or invalid: {first.get('msg', '')}. "
            "Go back and correct it."
        )
    return templates.TemplateResponse(
        request, "error.html", {"message": message, "status": 422}, status_code=422
    )


def create_app(
    database_url: str,
    *,
    secure_cookies: bool = True,
    rate_limits: RateLimits | None = None,
) -> FastAPI:
    """Build the web application on the database at ``database_url``.

    Parameters
    ----------
    database_url
        SQLAlchemy URL of the store; its schema is migrated to the newest
        revision first.
    secure_cookies
        Mark the session cookie ``Secure`` with the ``__Host-`` prefix. Turn
        off only for clients that refuse Secure cookies over plain HTTP.
    rate_limits
        Counters for sign-in, token and write limits. Default: in Redis when
        ``COFLEX_RATE_LIMIT_STORAGE`` names it, else in process memory.
    """
    # Fail at start, not at the first page, when no data key is configured.
    load_keyring()
    engine = open_engine(database_url)
    migrate(engine)
    state: dict[str, object] = {
        "factory": session_factory(engine),
        "secure_cookies": secure_cookies,
        "rate_limits": rate_limits or RateLimits.from_environment(),
    }

    anchoring = audit_anchors.configured_anchoring()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # Signed anchors of the audit log while the server runs, if configured.
        schedule = audit_anchors.start_schedule(
            state["factory"],  # type: ignore[arg-type]
            anchoring,
        )
        yield
        if schedule is not None:
            schedule.stop()
        engine.dispose()

    web = FastAPI(docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    for key, value in state.items():
        setattr(web.state, key, value)
    web.add_exception_handler(LoginRequired, _to_login)
    web.add_exception_handler(CoflexError, _page_error)
    web.add_exception_handler(HTTPException, _page_error)
    web.add_exception_handler(RequestValidationError, _page_invalid_form)
    web.mount("/api/v1", _api_app(state))
    # The OpenADR 3.1 VTN for customers' VENs, on the same store.
    web.mount("/openadr3/3.1.0", create_vtn_app(state["factory"]))  # type: ignore[arg-type]
    web.mount("/static", StaticFiles(directory=_STATIC), name="static")
    for module in (
        pages,
        pages_customer,
        pages_automation,
        pages_privacy,
        pages_operator,
        pages_regulator,
        pages_account,
        pages_complaints,
        pages_governance,
    ):
        web.include_router(module.router)
    web.include_router(pages_optout.router)
    web.add_middleware(SecurityHeaders)
    web.add_middleware(BodyLimit)
    return web
