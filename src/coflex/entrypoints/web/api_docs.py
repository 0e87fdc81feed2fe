"""A reference of the API, rendered on the server from its OpenAPI document.

Swagger UI and ReDoc run scripts loaded from a CDN, which the pages' Content
Security Policy (``script-src 'none'``) blocks and which an offline server
cannot reach. This page needs neither: it lists every operation with its
parameters, body and replies as plain HTML.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from coflex.entrypoints.web.templating import templates

router = APIRouter()
METHODS = ("get", "post", "put", "patch", "delete")


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    anchor: str
    summary: str
    description: str
    parameters: list[dict[str, Any]]
    body: str | None
    replies: list[tuple[str, str]]


def _type_name(schema: dict[str, Any]) -> str:
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[-1]
    if "anyOf" in schema:
        return " or ".join(_type_name(s) for s in schema["anyOf"])
    if "enum" in schema:
        return " | ".join(str(v) for v in schema["enum"])
    if schema.get("type") == "array":
        return f"list of {_type_name(schema.get('items', {}))}"
    return str(schema.get("format") or schema.get("type") or "any")


def _operations(document: dict[str, Any]) -> list[Operation]:
    found = []
    for path, item in document.get("paths", {}).items():
        for method in METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            body = operation.get("requestBody", {}).get("content", {})
            schema = body.get("application/json", {}).get("schema")
            found.append(
                Operation(
                    method.upper(),
                    path,
                    operation.get("operationId", f"{method}-{path}"),
                    operation.get("summary", ""),
                    operation.get("description", ""),
                    [
                        {
                            "name": p["name"],
                            "in": p["in"],
                            "required": p.get("required", False),
                            "type": _type_name(p.get("schema", {})),
                            "description": p.get("description")
                            or p.get("schema", {}).get("description", ""),
                        }
                        for p in operation.get("parameters", [])
                    ],
                    _type_name(schema) if schema else None,
                    [
                        (status, reply.get("description", ""))
                        for status, reply in operation.get("responses", {}).items()
                    ],
                )
            )
    return found


Field = tuple[str, str, bool, str]


def _schemas(document: dict[str, Any]) -> list[tuple[str, list[Field]]]:
    found = []
    schemas = document.get("components", {}).get("schemas", {})
    for name, schema in sorted(schemas.items()):
        required = set(schema.get("required", []))
        fields = [
            (
                field,
                _type_name(spec),
                field in required,
                spec.get("description", ""),
            )
            for field, spec in schema.get("properties", {}).items()
        ]
        found.append((name, fields))
    return found


@router.get("/docs", include_in_schema=False, response_class=HTMLResponse)
def api_reference(request: Request) -> Response:
    """Show every operation and schema of the OpenAPI document as HTML."""
    document = request.app.openapi()
    return templates.TemplateResponse(
        request,
        "api_docs.html",
        {
            "info": document.get("info", {}),
            "operations": _operations(document),
            "schemas": _schemas(document),
        },
    )
