"""The customer page "My data and privacy": consents, exports, correction, deletion."""

# Annotations stay evaluated: FastAPI reads them from the route functions.

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from coflex.adapters.store.database import transaction
from coflex.adapters.store.models import Customer
from coflex.domain.administration.privacy import Purpose, is_live
from coflex.entrypoints.web.pages_customer import CustomerUser
from coflex.entrypoints.web.security import (
    CsrfField,
    PageUser,
    check_csrf,
    session_factory,
)
from coflex.entrypoints.web.templating import templates
from coflex.errors import InputError
from coflex.services import privacy, privacy_export, privacy_requests
from coflex.services.accounts import utc_now

router = APIRouter(prefix="/portal/privacy")
OptionalText = Annotated[str | None, Form(max_length=500)]

PURPOSE_LABELS = {
    Purpose.SERVICE_DELIVERY: "Running the program: sending notices and controlling "
    "your enrolled devices during events",
    Purpose.MEASUREMENT: "Measuring what your home delivered, from your meter data",
    Purpose.SHARING: "Sharing your event results with the utility or grid operator",
    Purpose.MARKETING: "Telling you about other offers",
    Purpose.RESEARCH: "Research on anonymised data to improve programs",
}


def _customer(session: Session, user: PageUser) -> Customer:
    customer = session.get(Customer, user.principal.customer_id or 0)
    assert customer is not None  # a customer account always names its customer
    return customer


def _consents(session: Session, customer: Customer) -> list[dict[str, Any]]:
    now = utc_now()
    ledger = privacy.ledger(session, customer.reference)
    rows = []
    for purpose in Purpose:
        history = [c for c in ledger if c.purpose == purpose.value]
        live = [
            c for c in history if is_live(c.granted_at, c.expires_at, c.revoked_at, now)
        ]
        rows.append(
            {
                "purpose": purpose.value,
                "label": PURPOSE_LABELS[purpose],
                "live": live[-1] if live else None,
                "history": history,
            }
        )
    return rows


def _page(
    request: Request, user: PageUser, message: str | None = None, status: int = 200
) -> Response:
    with session_factory(request)() as session:
        customer = _customer(session, user)
        view = {"customer": customer, "consents": _consents(session, customer)}
    return templates.TemplateResponse(
        request,
        "privacy.html",
        {
            "user": user,
            "message": message,
            "formats": list(privacy_export.ExportFormat),
            **view,
        },
        status_code=status,
    )


def _actor(user: PageUser) -> str:
    return f"customer:{user.principal.account_id}"


@router.get("", response_class=HTMLResponse)
def privacy_page(request: Request, user: CustomerUser) -> Response:
    """Show the customer's consents, exports, correction and deletion forms."""
    return _page(request, user)


@router.post("/consents")
def change_consent(
    request: Request,
    user: CustomerUser,
    purpose: Annotated[str, Form(max_length=32)],
    action: Annotated[str, Form(pattern="^(grant|revoke)$")],
    csrf_token: CsrfField,
    recipient: OptionalText = None,
) -> Response:
    """Grant or revoke the consent for one purpose."""
    check_csrf(user, csrf_token)
    now = utc_now()
    with transaction(session_factory(request)) as session:
        customer = _customer(session, user)
        if action == "grant":
            privacy.grant_consent(
                session,
                privacy.Grant(
                    customer.reference,
                    purpose,
                    scope="portal",
                    channel="portal",
                    granted_at=now,
                    recipient=recipient or None,
                ),
            )
        else:
            privacy.revoke_consent(session, customer.reference, purpose, now)
    return RedirectResponse("/portal/privacy", status_code=303)


@router.post("/export")
def export(
    request: Request,
    user: CustomerUser,
    export_format: Annotated[str, Form(alias="format", max_length=16)],
    csrf_token: CsrfField,
) -> Response:
    """Download everything held on the customer in the chosen format."""
    check_csrf(user, csrf_token)
    chosen = privacy_export.parse_format(export_format)
    with transaction(session_factory(request)) as session:
        customer = _customer(session, user)
        result = privacy_export.export_customer(
            session,
            customer,
            chosen,
            privacy_export.DateRange(),
            actor=_actor(user),
            at=utc_now(),
        )
    return Response(
        result.content,
        media_type=result.media_type,
        headers={"Content-Disposition": f'attachment; filename="{result.filename}"'},
    )


@router.post("/correction")
def correction(
    request: Request,
    user: CustomerUser,
    csrf_token: CsrfField,
    name: OptionalText = None,
    email: OptionalText = None,
    phone: OptionalText = None,
    postal_address: OptionalText = None,
) -> Response:
    """Correct the fields the customer changed; empty fields clear the value."""
    check_csrf(user, csrf_token)
    submitted = {
        "name": name,
        "email": email,
        "phone": phone,
        "postal_address": postal_address,
    }
    with transaction(session_factory(request)) as session:
        customer = _customer(session, user)
        changes = {
            k: v or None
            for k, v in submitted.items()
            if (v or None) != getattr(customer, k)
        }
        if not changes:
            raise InputError("nothing changed: edit a field before saving")
        fields = privacy_requests.correct(
            session, customer, changes, actor=_actor(user), at=utc_now()
        )
    return _page(request, user, f"Saved your corrected {', '.join(fields)}.")


@router.post("/deletion", response_class=HTMLResponse)
def deletion(
    request: Request,
    user: CustomerUser,
    csrf_token: CsrfField,
    confirm: Annotated[str | None, Form(max_length=8)] = None,
) -> Response:
    """Erase the customer's personal data; the account is closed afterwards."""
    check_csrf(user, csrf_token)
    if confirm != "yes":
        raise InputError(
            "tick the box to confirm: deletion cannot be undone", field="confirm"
        )
    with transaction(session_factory(request)) as session:
        result = privacy_requests.delete_customer(
            session, _customer(session, user), actor=_actor(user), at=utc_now()
        )
    return templates.TemplateResponse(
        request, "privacy_deleted.html", {"user": None, "result": result}
    )
