"""Governance pages: the claims registry, the compliance dashboard, record requests.

The operator sees every marketing claim with its source, review and expiry,
the material versions that use them, and the status of each provision of the
Code from the automated checks. The regulator requests signed record bundles
of its jurisdiction and downloads them.
"""

# Annotations stay evaluated: FastAPI reads them from the route functions.

from collections import defaultdict
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import select

from coflex.adapters.store.models_enrollment import (
    ClaimRecord,
    Material,
    MaterialClaim,
)
from coflex.adapters.store.models_records import RecordRequest
from coflex.entrypoints.web.api import fetch_visible
from coflex.entrypoints.web.api_enrollment import claim_status
from coflex.entrypoints.web.api_governance import (
    RECORD_REQUESTS,
    RecordRequestIn,
    bundle_response,
    request_records,
)
from coflex.entrypoints.web.errors import form_message
from coflex.entrypoints.web.schemas import MAX_ID
from coflex.entrypoints.web.security import (
    CsrfField,
    PageUser,
    check_csrf,
    page_roles,
    session_factory,
)
from coflex.entrypoints.web.templating import templates
from coflex.errors import CoflexError, InputError
from coflex.services import compliance
from coflex.services.accounts import Role, utc_now

router = APIRouter()
OperatorUser = Annotated[PageUser, Depends(page_roles(Role.OPERATOR))]
RegulatorUser = Annotated[PageUser, Depends(page_roles(Role.REGULATOR))]
PathId = Annotated[int, Path(ge=1, le=MAX_ID)]
ShortText = Annotated[str, Form(max_length=300)]
MAX_ROWS = 200


@router.get("/console/claims", response_class=HTMLResponse)
def claims_registry(request: Request, user: OperatorUser) -> Response:
    """List claims with status and expiry, and the material versions using them."""
    today = utc_now().date()
    with session_factory(request)() as session:
        claims = session.scalars(
            select(ClaimRecord).order_by(ClaimRecord.expires_on, ClaimRecord.id)
        ).all()
        materials = session.scalars(
            select(Material).order_by(Material.name, Material.version.desc())
        ).all()
        links = session.execute(
            select(MaterialClaim.material_id, MaterialClaim.claim_id)
        ).all()
    used: dict[int, list[int]] = defaultdict(list)
    for material_id, claim_id in links:
        used[material_id].append(claim_id)
    return templates.TemplateResponse(
        request,
        "console_claims.html",
        {
            "user": user,
            "claims": [(c, claim_status(c, today)) for c in claims],
            "materials": materials,
            "used": used,
            "today": today,
        },
    )


@router.get("/console/compliance", response_class=HTMLResponse)
def compliance_dashboard(request: Request, user: OperatorUser) -> Response:
    """Run the automated checks and show each provision's status and evidence."""
    with session_factory(request)() as session:
        report = compliance.evaluate(session, utc_now())
    counts: dict[str, int] = defaultdict(int)
    for entry in report["provisions"]:
        counts[entry["status"]] += 1
    return templates.TemplateResponse(
        request,
        "compliance_dashboard.html",
        {"user": user, "report": report, "counts": dict(counts)},
    )


def _records_page(
    request: Request,
    user: PageUser,
    error: str | None = None,
    form: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    with session_factory(request)() as session:
        rows = session.scalars(
            select(RecordRequest)
            .where(RECORD_REQUESTS.visible(user.principal))
            .order_by(RecordRequest.id.desc())
            .limit(MAX_ROWS)
        ).all()
    return templates.TemplateResponse(
        request,
        "regulator_records.html",
        {"user": user, "requests": rows, "error": error, "form": form or {}},
        status_code=status,
    )


@router.get("/regulator/records", response_class=HTMLResponse)
def record_requests(request: Request, user: RegulatorUser) -> Response:
    """List the jurisdiction's record requests and show the form for a new one."""
    return _records_page(request, user)


def _local(value: str, name: str) -> datetime | None:
    if not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise InputError(
            f"{name} {value!r} is not a date and time: use 2026-07-01T00:00+00:00",
            field=name,
        ) from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=utc_now().tzinfo)


@router.post("/regulator/records", response_class=HTMLResponse)
def new_record_request(
    request: Request,
    user: RegulatorUser,
    csrf_token: CsrfField,
    reason: ShortText,
    customer_reference: Annotated[str, Form(max_length=32)] = "",
    event_id: Annotated[str, Form(max_length=12)] = "",
    start: Annotated[str, Form(max_length=40)] = "",
    end: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    """Build the signed bundle of the named records; a rejected form comes back."""
    check_csrf(user, csrf_token)
    form = {
        "customer_reference": customer_reference,
        "event_id": event_id,
        "start": start,
        "end": end,
        "reason": reason,
    }
    try:
        body = RecordRequestIn.model_validate(
            {
                "customer_reference": customer_reference.strip() or None,
                "event_id": int(event_id) if event_id.strip().isdigit() else None,
                "from": _local(start, "from"),
                "to": _local(end, "to"),
                "reason": reason.strip(),
            }
        )
        row = request_records(user.principal, body, session_factory(request))
    except (ValidationError, CoflexError) as exc:
        return _records_page(request, user, form_message(exc), form, 422)
    return RedirectResponse(f"/regulator/records#request-{row.id}", status_code=303)


@router.get("/regulator/records/{request_id}/bundle")
def download_bundle(
    request: Request, user: RegulatorUser, request_id: PathId
) -> Response:
    """Download a request's signed bundle as a ZIP archive."""
    with session_factory(request)() as session:
        return bundle_response(
            fetch_visible(session, RECORD_REQUESTS, user.principal, request_id)
        )
