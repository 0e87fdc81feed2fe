"""Who is calling: bearer tokens for the API, session cookies and CSRF for pages.

Every route declares the roles it admits with :func:`api_roles` or
:func:`page_roles`; a route without one of them is public (the login page,
the token exchange and the OpenAPI document).
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Form, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session, sessionmaker

from coflex.services.accounts import (
    AuthenticationError,
    PermissionDenied,
    Principal,
    Role,
    resolve_session,
    resolve_token,
    utc_now,
)

SECURE_COOKIE = "__Host-coflex-session"
PLAIN_COOKIE = "coflex-session"
LOGIN_CSRF_COOKIE = "coflex-login-csrf"

_bearer = HTTPBearer(auto_error=False, description="A token from POST /tokens")


def session_factory(request: Request) -> sessionmaker[Session]:
    return request.app.state.factory  # type: ignore[no-any-return]


def cookie_name(request: Request) -> str:
    return SECURE_COOKIE if request.app.state.secure_cookies else PLAIN_COOKIE


def api_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """Return the account of the request's bearer token."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise AuthenticationError(
            "missing bearer token: send 'Authorization: Bearer TOKEN' "
            "with a token from POST /api/v1/tokens",
        )
    with session_factory(request)() as session:
        account = resolve_token(session, credentials.credentials, utc_now())
        return Principal.of(account)


def _require(principal: Principal, roles: frozenset[Role]) -> Principal:
    if principal.role not in roles:
        allowed = ", ".join(sorted(r.value for r in roles))
        raise PermissionDenied(
            f"a {principal.role.value} account may not do this: it needs the role "
            f"{allowed}",
        )
    return principal


def api_roles(*roles: Role) -> Callable[..., Principal]:
    """Return a dependency that admits bearer tokens of the given roles only."""
    admitted = frozenset(roles)

    def dependency(
        principal: Annotated[Principal, Depends(api_principal)],
    ) -> Principal:
        return _require(principal, admitted)

    return dependency


@dataclass(frozen=True)
class PageUser:
    """A signed-in browser: the account and the CSRF token its forms carry."""

    principal: Principal
    csrf_token: str


class LoginRequired(Exception):
    """Raised by page dependencies; the app answers with a redirect to /login."""


def page_user(request: Request) -> PageUser:
    """Return the account of the session cookie, or send the browser to /login."""
    token = request.cookies.get(cookie_name(request))
    if not token:
        raise LoginRequired
    with session_factory(request)() as session:
        try:
            account, row = resolve_session(session, token, utc_now())
        except AuthenticationError as exc:
            raise LoginRequired from exc
        return PageUser(Principal.of(account), row.csrf_token)


def page_roles(*roles: Role) -> Callable[..., PageUser]:
    """Return a dependency that admits signed-in browsers of the given roles."""
    admitted = frozenset(roles)

    def dependency(user: Annotated[PageUser, Depends(page_user)]) -> PageUser:
        _require(user.principal, admitted)
        return user

    return dependency


def check_csrf(user: PageUser, submitted: str) -> None:
    """Reject a form whose CSRF token differs from its session's."""
    if not hmac.compare_digest(user.csrf_token.encode(), submitted.encode()):
        raise PermissionDenied(
            "the form's security token does not match your session: "
            "reload the page and try again",
            field="csrf_token",
        )


CsrfField = Annotated[str, Form(max_length=100)]
