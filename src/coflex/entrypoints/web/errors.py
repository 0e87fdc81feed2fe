"""Error bodies of the API, and the one place that maps errors to HTTP statuses.

Every error reply has the body ``{"error": {"code", "message", "field"}}``.
``code`` is stable and machine-readable, ``message`` states what failed and what
to do, and ``field`` names the offending input where there is one.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from coflex.errors import CoflexError

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024

# HTTP statuses that Starlette raises itself, with their stable codes.
_HTTP_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
    415: "unsupported_media_type",
}


class ErrorDetail(BaseModel):
    code: str
    message: str
    field: str | None = None


class ErrorBody(BaseModel):
    error: ErrorDetail


def error_response(
    status: int,
    code: str,
    message: str,
    field: str | None = None,
    retry_after_s: int | None = None,
) -> JSONResponse:
    body = ErrorBody(error=ErrorDetail(code=code, message=message, field=field))
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
    if retry_after_s is not None:
        headers["Retry-After"] = str(retry_after_s)
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


def _field_of(location: tuple[Any, ...] | list[Any]) -> str | None:
    parts = [str(p) for p in location if p not in ("body", "query", "path")]
    return ".".join(parts) or None


def _validation_message(error: dict[str, Any]) -> tuple[str, str]:
    """Return the code and message of the first validation error."""
    kind = error.get("type", "")
    field = _field_of(error.get("loc", ())) or "body"
    if kind == "json_invalid":
        return "malformed_json", "the body is not valid JSON: send a JSON object"
    if kind == "extra_forbidden":
        return "unknown_field", f"unknown field {field!r}: remove it"
    if kind == "missing":
        return "missing_field", f"missing field {field!r}: give a value"
    return "invalid_input", f"invalid value for {field!r}: {error.get('msg', '')}"


def form_message(exc: Exception, labels: dict[str, str] | None = None) -> str:
    """Return the sentence a page shows for a rejected form.

    ``labels`` maps field names to the labels the form shows for them.
    """
    if isinstance(exc, CoflexError):
        return exc.message[:1].upper() + exc.message[1:] + "."
    assert isinstance(exc, ValidationError)
    first = exc.errors()[0]
    field = ".".join(str(p) for p in first["loc"]) or "form"
    label = (labels or {}).get(field, field)
    return f"Check the field '{label}': {first['msg']}."


async def _on_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {}
    code, message = _validation_message(first)
    if code == "malformed_json":
        return error_response(400, code, message)
    return error_response(422, code, message, _field_of(first.get("loc", ())))


async def _on_coflex_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, CoflexError)
    if exc.http_status >= 500:
        logger.error("request %s failed: %s", request.url.path, exc.code)
    retry_after_s = getattr(exc, "retry_after_s", None)
    return error_response(
        exc.http_status, exc.code, exc.message, exc.field, retry_after_s
    )


async def _on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    return error_response(exc.status_code, code, str(exc.detail))


def install_error_handlers(app: FastAPI) -> None:
    """Make every error of ``app`` reply with an :class:`ErrorBody`."""
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(CoflexError, _on_coflex_error)
    app.add_exception_handler(HTTPException, _on_http_error)


class BodyLimit:
    """ASGI middleware that rejects request bodies over ``max_bytes`` with 413.

    It checks the declared Content-Length first and counts chunked bodies as
    they arrive, so an oversized body is never read whole into memory.
    """

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (
            not declared.isdigit() or int(declared) > self.max_bytes
        ):
            await self._reject(scope, receive, send)
            return
        await self.app(scope, self._counting(receive), send)

    def _counting(self, receive: Receive) -> Callable[[], Awaitable[Any]]:
        seen = 0

        async def counted() -> MutableMapping[str, Any]:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                raise HTTPException(413, self._message())
            return message

        return counted

    def _message(self) -> str:
        return f"request body is larger than {self.max_bytes} bytes: send less"

    async def _reject(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(413, "body_too_large", self._message())
        await response(scope, receive, send)
