"""Sign-in, sign-out, the start page of each role and the account page."""

# Annotations stay evaluated: FastAPI reads them from the route functions.

import hmac
import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from coflex.adapters.store.database import transaction
from coflex.adapters.store.models_web import Account
from coflex.entrypoints.web.rate_limits import (
    RateLimited,
    admit_sign_in,
    count_failed_sign_in,
)
from coflex.entrypoints.web.security import (
    LOGIN_CSRF_COOKIE,
    CsrfField,
    PageUser,
    check_csrf,
    cookie_name,
    page_user,
    session_factory,
)
from coflex.entrypoints.web.templating import templates
from coflex.services.accounts import (
    SESSION_LIFETIME,
    AuthenticationError,
    Role,
    authenticate,
    close_session,
    issue_token,
    open_session,
    utc_now,
)

router = APIRouter()
User = Annotated[PageUser, Depends(page_user)]

HOME = {
    Role.CUSTOMER: "/portal",
    Role.OPERATOR: "/console",
    Role.REGULATOR: "/regulator",
    Role.SALES_REPRESENTATIVE: "/account",
    Role.GRID_OPERATOR: "/account",
    Role.DEVICE: "/account",
}


def _login_page(request: Request, error: str | None, status: int = 200) -> Response:
    token = secrets.token_urlsafe(32)
    response = templates.TemplateResponse(
        request,
        "login.html",
        {"csrf_token": token, "error": error},
        status_code=status,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=request.app.state.secure_cookies,
    )
    return response


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request) -> Response:
    return _login_page(request, None)


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=200)],
    # Optional here so that a form without its token gets the login page back.
    csrf_token: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """Check the password and start a session; the form carries a CSRF token."""
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not hmac.compare_digest(expected, csrf_token):
        return _login_page(request, "The form expired. Please sign in again.", 400)
    try:
        admit_sign_in(request, username, "login_attempts_per_address")
    except RateLimited as exc:
        limited = _login_page(request, exc.message.capitalize() + ".", 429)
        limited.headers["Retry-After"] = str(exc.retry_after_s)
        return limited
    factory = session_factory(request)
    try:
        with transaction(factory) as session:
            account = authenticate(session, username, password)
            token, _ = open_session(session, account, utc_now())
            home = HOME[Role(account.role)]
    except AuthenticationError as exc:
        count_failed_sign_in(request, username)
        return _login_page(request, exc.message.capitalize() + ".", 401)
    response = RedirectResponse(home, status_code=303)
    response.set_cookie(
        cookie_name(request),
        token,
        max_age=int(SESSION_LIFETIME.total_seconds()),
        httponly=True,
        samesite="strict",
        secure=request.app.state.secure_cookies,
        path="/",
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE)
    return response


@router.post("/logout")
def logout(request: Request, user: User, csrf_token: CsrfField) -> Response:
    check_csrf(user, csrf_token)
    token = request.cookies.get(cookie_name(request), "")
    with transaction(session_factory(request)) as session:
        close_session(session, token, utc_now())
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(cookie_name(request), path="/")
    return response


@router.get("/")
def home(user: User) -> Response:
    return RedirectResponse(HOME[user.principal.role], status_code=303)


@router.get("/account", response_class=HTMLResponse)
def account_page(request: Request, user: User) -> Response:
    return templates.TemplateResponse(
        request, "account.html", {"user": user, "token": None}
    )


@router.post("/account/tokens", response_class=HTMLResponse)
def create_token(request: Request, user: User, csrf_token: CsrfField) -> Response:
    """Issue an API token for the signed-in account and show it once."""
    check_csrf(user, csrf_token)
    with transaction(session_factory(request)) as session:
        account = session.get(Account, user.principal.account_id)
        assert account is not None
        token = issue_token(session, account, "created in the browser", utc_now())
    return templates.TemplateResponse(
        request, "account.html", {"user": user, "token": token}
    )
