"""Accounts, passwords, browser sessions and API tokens.

Passwords are hashed with argon2id (RFC 9106) through argon2-cffi and its
default parameters. Session and API tokens are 256-bit random values from
:mod:`secrets`; only their SHA-256 digest is stored, so a copy of the database
lets no one sign in.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from coflex.adapters.store.models_web import Account, ApiToken, BrowserSession
from coflex.errors import CoflexError, InputError

logger = logging.getLogger(__name__)

SESSION_LIFETIME = timedelta(hours=12)
TOKEN_LIFETIME = timedelta(days=30)
MIN_PASSWORD_LENGTH = 12
_HASHER = PasswordHasher()
# Verified against when the username is unknown, so that a wrong username
# takes as long as a wrong password.
_DUMMY_HASH = _HASHER.hash(secrets.token_urlsafe(16))


class Role(StrEnum):
    CUSTOMER = "customer"
    OPERATOR = "operator"
    SALES_REPRESENTATIVE = "sales_representative"
    REGULATOR = "regulator"
    GRID_OPERATOR = "grid_operator"
    DEVICE = "device"


class AuthenticationError(CoflexError):
    """Missing, wrong, expired or revoked credentials."""

    code = "not_authenticated"
    exit_status = 2
    http_status = 401


class PermissionDenied(CoflexError):
    """The account's role or ownership does not allow the action."""

    code = "forbidden"
    exit_status = 2
    http_status = 403


class NotFound(CoflexError):
    """The object does not exist or the account may not see it."""

    code = "not_found"
    exit_status = 2
    http_status = 404


@dataclass(frozen=True)
class Principal:
    """The signed-in account as the web layer sees it."""

    account_id: int
    username: str
    role: Role
    display_name: str
    aggregator_id: int | None
    customer_id: int | None
    device_id: int | None
    jurisdiction: str | None

    @classmethod
    def of(cls, account: Account) -> Principal:
        return cls(
            account_id=account.id,
            username=account.username,
            role=Role(account.role),
            display_name=account.display_name,
            aggregator_id=account.aggregator_id,
            customer_id=account.customer_id,
            device_id=account.device_id,
            jurisdiction=account.jurisdiction,
        )


def digest(token: str) -> str:
    """Return the SHA-256 hex digest under which a token is stored."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def generate_password() -> str:
    """Return a random password of 20 URL-safe characters (120 bits)."""
    return secrets.token_urlsafe(15)


def create_account(
    session: Session,
    username: str,
    role: Role,
    display_name: str,
    password: str | None,
    *,
    now: datetime,
    aggregator_id: int | None = None,
    customer_id: int | None = None,
    device_id: int | None = None,
    jurisdiction: str | None = None,
) -> Account:
    """Add an account; without a password it signs in only with API tokens.

    Raises
    ------
    InputError
        If the password is shorter than 12 characters or the owner column
        that the role needs is missing.
    """
    if password is not None and len(password) < MIN_PASSWORD_LENGTH:
        raise InputError(
            f"password of {len(password)} characters is too short: "
            f"use at least {MIN_PASSWORD_LENGTH}",
            field="password",
        )
    needed = {
        Role.CUSTOMER: ("customer_id", customer_id),
        Role.OPERATOR: ("aggregator_id", aggregator_id),
        Role.SALES_REPRESENTATIVE: ("aggregator_id", aggregator_id),
        Role.GRID_OPERATOR: ("aggregator_id", aggregator_id),
        Role.REGULATOR: ("jurisdiction", jurisdiction),
        Role.DEVICE: ("device_id", device_id),
    }[role]
    if needed[1] is None:
        raise InputError(
            f"a {role.value} account needs {needed[0]}: give the owner it acts for",
            field=needed[0],
        )
    account = Account(
        username=username,
        role=role.value,
        display_name=display_name,
        password_hash=_HASHER.hash(password) if password is not None else None,
        aggregator_id=aggregator_id,
        customer_id=customer_id,
        device_id=device_id,
        jurisdiction=jurisdiction,
        created_at=now,
    )
    session.add(account)
    session.flush()
    logger.info("account %s created with role %s", account.id, role.value)
    return account


def authenticate(session: Session, username: str, password: str) -> Account:
    """Return the enabled account whose password matches.

    ``username`` may also be a customer's email address, matched through its
    keyed hash.

    Raises
    ------
    AuthenticationError
        If the username is unknown, the account is disabled or has no
        password, or the password is wrong. The message does not say which.
    """
    account = session.scalar(select(Account).where(Account.username == username))
    if account is None and "@" in username:
        account = _customer_account_by_email(session, username)
    stored = account.password_hash if account is not None else None
    try:
        _HASHER.verify(stored or _DUMMY_HASH, password)
        valid = stored is not None
    except (VerificationError, InvalidHashError):
        valid = False
    if not valid or account is None or account.disabled_at is not None:
        raise AuthenticationError(
            "wrong username or password: check both and try again",
            field="password",
        )
    return account


def _customer_account_by_email(session: Session, email: str) -> Account | None:
    """Find a customer's account by email through its keyed hash, never the text."""
    from coflex.adapters.store.crypto import lookup_hash
    from coflex.adapters.store.models import Customer

    return session.scalar(
        select(Account)
        .join(Customer, Customer.id == Account.customer_id)
        .where(Customer.email_hmac == lookup_hash(email))
        .order_by(Account.id)
        .limit(1)
    )


def open_session(session: Session, account: Account, now: datetime) -> tuple[str, str]:
    """Store a browser session; return its cookie token and its CSRF token."""
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    session.add(
        BrowserSession(
            token_sha256=digest(token),
            account_id=account.id,
            csrf_token=csrf,
            created_at=now,
            expires_at=now + SESSION_LIFETIME,
        )
    )
    return token, csrf


def close_session(session: Session, token: str, now: datetime) -> None:
    """Revoke the browser session of a cookie token, if it exists."""
    row = session.scalar(
        select(BrowserSession).where(BrowserSession.token_sha256 == digest(token))
    )
    if row is not None and row.revoked_at is None:
        row.revoked_at = now


def issue_token(
    session: Session,
    account: Account,
    name: str,
    now: datetime,
    lifetime: timedelta = TOKEN_LIFETIME,
) -> str:
    """Store a new API token for the account and return it (shown only once)."""
    token = secrets.token_urlsafe(32)
    session.add(
        ApiToken(
            token_sha256=digest(token),
            account_id=account.id,
            name=name,
            created_at=now,
            expires_at=now + lifetime,
        )
    )
    return token


def _usable(account: Account | None) -> Account:
    if account is None or account.disabled_at is not None:
        raise AuthenticationError(
            "the account of this credential is disabled: ask the aggregator",
        )
    return account


def resolve_session(
    session: Session, token: str, now: datetime
) -> tuple[Account, BrowserSession]:
    """Return the account and session of a cookie token.

    Raises
    ------
    AuthenticationError
        If the session is unknown, revoked or expired.
    """
    row = session.scalar(
        select(BrowserSession).where(BrowserSession.token_sha256 == digest(token))
    )
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        raise AuthenticationError("your session has ended: sign in again")
    return _usable(session.get(Account, row.account_id)), row


def resolve_token(session: Session, token: str, now: datetime) -> Account:
    """Return the account of a bearer token.

    Raises
    ------
    AuthenticationError
        If the token is unknown, revoked or expired.
    """
    row = session.scalar(select(ApiToken).where(ApiToken.token_sha256 == digest(token)))
    if row is None or row.revoked_at is not None:
        raise AuthenticationError(
            "invalid bearer token: request a new token from your account page"
        )
    if row.expires_at <= now:
        raise AuthenticationError(
            f"bearer token expired at {row.expires_at.isoformat()}: "
            "request a new token",
        )
    return _usable(session.get(Account, row.account_id))


def utc_now() -> datetime:
    return datetime.now(UTC)
