"""Rate limits on sign-in, token requests and customer writes, with lockout records.

Fixed windows counted by the ``limits`` library, in Redis when
``COFLEX_RATE_LIMIT_STORAGE`` names one (e.g. ``redis://127.0.0.1:6379/0``,
shared by every worker process) or in process memory otherwise (one count per
process). A request over a limit gets HTTP 429 with a ``Retry-After`` header
[s], and the request that starts a lockout leaves a ``rate_limit_locked_out``
row in the audit log.

Failed passwords count per username, whether or not the account exists, so
the reply does not tell which usernames are real. All sign-in and token
attempts also count per client address.

References
----------
NIST SP 800-63B (2017), section 5.2.2: a verifier shall limit consecutive
failed authentication attempts on one account to no more than 100.
RFC 6585, section 4: status 429 Too Many Requests, with Retry-After.
"""

from __future__ import annotations

import logging
import math
import os
import time
from dataclasses import dataclass

from fastapi import Request
from limits import RateLimitItem, parse
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from coflex.adapters.store.database import transaction
from coflex.adapters.store.models_web import Account
from coflex.errors import CoflexError
from coflex.services import audit
from coflex.services.accounts import utc_now

logger = logging.getLogger(__name__)

STORAGE_ENV = "COFLEX_RATE_LIMIT_STORAGE"


class RateLimited(CoflexError):
    """Too many requests of one kind from one account or client address."""

    code = "rate_limited"
    exit_status = 1
    http_status = 429

    def __init__(self, message: str, *, retry_after_s: int, field: str | None = None):
        super().__init__(message, field=field)
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class RatePolicy:
    """The limits, in the ``limits`` notation ("N per M unit")."""

    # 10 wrong passwords lock a username for the rest of a 15-minute window.
    login_failures_per_account: str = "10 per 15 minutes"
    login_attempts_per_address: str = "30 per minute"
    token_attempts_per_address: str = "30 per minute"
    # Pressing override again returns the pending request, so a customer
    # never needs more than a few; the limit stops scripted floods only.
    override_writes_per_account: str = "30 per minute"
    complaint_writes_per_account: str = "10 per minute"


class RateLimits:
    """Fixed-window counters for every rule of a :class:`RatePolicy`."""

    def __init__(
        self,
        storage_uri: str = "memory://",
        policy: RatePolicy | None = None,
        key_prefix: str = "coflex",
    ):
        self.storage_uri = storage_uri
        # The prefix keeps the keys of several deployments on one Redis apart.
        options = {} if storage_uri.startswith("memory") else {"key_prefix": key_prefix}
        storage = storage_from_string(storage_uri, **options)
        if not storage.check():
            raise CoflexError(
                f"rate-limit storage {storage_uri} is not reachable: start it, or "
                f"unset {STORAGE_ENV} to count in process memory",
                value=storage_uri,
                field=STORAGE_ENV,
            )
        self._limiter = FixedWindowRateLimiter(storage)
        rules = vars(policy or RatePolicy())
        self._items: dict[str, RateLimitItem] = {
            rule: parse(text) for rule, text in rules.items()
        }

    @classmethod
    def from_environment(cls) -> RateLimits:
        return cls(os.environ.get(STORAGE_ENV) or "memory://")

    def check(self, rule: str, key: str) -> None:
        """Raise :class:`RateLimited` if ``key`` has used up ``rule``'s window."""
        item = self._items[rule]
        if self._limiter.test(item, rule, key):
            return
        reset_at = self._limiter.get_window_stats(item, rule, key).reset_time
        retry_after_s = max(1, math.ceil(reset_at - time.time()))
        raise RateLimited(
            f"too many requests ({item.amount} per {_window(item)} allowed): "
            f"try again in {retry_after_s} seconds",
            retry_after_s=retry_after_s,
        )

    def count(self, rule: str, key: str) -> bool:
        """Count one request; return True when it used the window's last slot."""
        item = self._items[rule]
        self._limiter.hit(item, rule, key)
        return not self._limiter.test(item, rule, key)

    def describe(self, rule: str) -> str:
        item = self._items[rule]
        return f"{item.amount} per {_window(item)}"

    def clear(self) -> None:
        """Reset every counter."""
        self._limiter.storage.reset()


def _window(item: RateLimitItem) -> str:
    unit = item.GRANULARITY.name
    return unit if item.multiples == 1 else f"{item.multiples} {unit}s"


def client_address(request: Request) -> str:
    """Return the client's IP address as the server receives it.

    NOTE: behind a reverse proxy this is the proxy's address unless uvicorn
    runs with ``--proxy-headers`` and ``--forwarded-allow-ips``.
    """
    return request.client.host if request.client else "unknown"


def record_lockout(
    factory: sessionmaker[Session], rule: str, limit: str, account_key: str | None
) -> None:
    """Append a ``rate_limit_locked_out`` row; the client address is not kept."""
    with transaction(factory) as session:
        subject = "client"
        customer_id = None
        if account_key is not None:
            account = session.scalar(
                select(Account).where(Account.username == account_key)
            )
            subject = f"account:{account.id}" if account else "account:unknown"
            customer_id = account.customer_id if account else None
        audit.append(
            session,
            [
                audit.AuditRecord(
                    at=utc_now(),
                    action="rate_limit_locked_out",
                    subject=subject,
                    details={"rule": rule, "limit": limit},
                    customer_id=customer_id,
                )
            ],
        )
    logger.warning("rate limit %s reached (%s)", rule, subject)


def _limits(request: Request) -> RateLimits:
    return request.app.state.rate_limits  # type: ignore[no-any-return]


def _factory(request: Request) -> sessionmaker[Session]:
    return request.app.state.factory  # type: ignore[no-any-return]


def admit_sign_in(request: Request, username: str, address_rule: str) -> None:
    """Count a sign-in or token attempt; raise RateLimited when over a limit.

    Runs before the password is checked, so a locked username is rejected
    without spending an Argon2 verification on it.
    """
    limits = _limits(request)
    address = client_address(request)
    limits.check(address_rule, address)
    limits.check("login_failures_per_account", username)
    if limits.count(address_rule, address):
        record_lockout(
            _factory(request), address_rule, limits.describe(address_rule), None
        )


def count_failed_sign_in(request: Request, username: str) -> None:
    """Count a wrong password against ``username``; audit the lockout it starts."""
    limits = _limits(request)
    rule = "login_failures_per_account"
    if limits.count(rule, username):
        record_lockout(_factory(request), rule, limits.describe(rule), username)


def admit_write(request: Request, rule: str, account_id: int) -> None:
    """Count a customer write (override, complaint); raise RateLimited when over."""
    limits = _limits(request)
    key = f"account:{account_id}"
    limits.check(rule, key)
    if limits.count(rule, key):
        with transaction(_factory(request)) as session:
            account = session.get(Account, account_id)
            username = account.username if account else None
        record_lockout(_factory(request), rule, limits.describe(rule), username)
