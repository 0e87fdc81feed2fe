"""The password change page of every account that signs in with a password."""

# Annotations stay evaluated: FastAPI reads them from the route functions.

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response

from coflex.adapters.store.database import transaction
from coflex.entrypoints.web.errors import form_message
from coflex.entrypoints.web.security import (
    CsrfField,
    PageUser,
    check_csrf,
    cookie_name,
    page_user,
    session_factory,
)
from coflex.entrypoints.web.templating import templates
from coflex.errors import CoflexError
from coflex.services.account_passwords import MAX_PASSWORD_LENGTH, change_password
from coflex.services.accounts import MIN_PASSWORD_LENGTH, utc_now

router = APIRouter(prefix="/account")
User = Annotated[PageUser, Depends(page_user)]
Password = Annotated[str, Form(max_length=MAX_PASSWORD_LENGTH)]


def _page(
    request: Request, user: PageUser, error: str | None, done: bool, status: int = 200
) -> Response:
    return templates.TemplateResponse(
        request,
        "password.html",
        {
            "user": user,
            "error": error,
            "done": done,
            "min_length": MIN_PASSWORD_LENGTH,
            "max_length": MAX_PASSWORD_LENGTH,
        },
        status_code=status,
    )


@router.get("/password", response_class=HTMLResponse)
def password_form(request: Request, user: User) -> Response:
    return _page(request, user, None, False)


@router.post("/password", response_class=HTMLResponse)
def password_change(
    request: Request,
    user: User,
    csrf_token: CsrfField,
    current_password: Password,
    new_password: Password,
    repeated_password: Password,
) -> Response:
    """Change the password; other sessions and all API tokens are signed out."""
    check_csrf(user, csrf_token)
    try:
        with transaction(session_factory(request)) as session:
            change_password(
                session,
                user.principal.account_id,
                current_password,
                new_password,
                repeated_password,
                keep_session_token=request.cookies.get(cookie_name(request), ""),
                at=utc_now(),
            )
    except CoflexError as exc:
        return _page(request, user, form_message(exc), False, exc.http_status)
    return _page(request, user, None, True)
