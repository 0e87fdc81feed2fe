"""Changing an account's password from the account page.

The current password is checked first. The new password is hashed with
argon2id like every other, every other browser session and every API token
of the account is revoked, and the change goes into the audit log without
the password.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.orm import Session

from coflex.adapters.store.models_web import Account, ApiToken, BrowserSession
from coflex.errors import InputError
from coflex.services import audit
from coflex.services.accounts import (
    _HASHER,
    MIN_PASSWORD_LENGTH,
    authenticate,
    digest,
)

logger = logging.getLogger(__name__)
MAX_PASSWORD_LENGTH = 200


def change_password(
    session: Session,
    account_id: int,
    current: str,
    new: str,
    repeated: str,
    *,
    keep_session_token: str,
    at: datetime,
) -> None:
    """Replace the account's password and sign out its other sessions and tokens.

    Raises
    ------
    AuthenticationError
        If ``current`` is not the account's password.
    InputError
        If the new password is too short or too long, differs from its
        repetition, or equals the current one.
    """
    account = session.get(Account, account_id)
    assert account is not None
    authenticate(session, account.username, current)
    if new != repeated:
        raise InputError(
            "the new password and its repetition differ: type the same password "
            "in both fields",
            field="repeated",
        )
    if not MIN_PASSWORD_LENGTH <= len(new) <= MAX_PASSWORD_LENGTH:
        raise InputError(
            f"the new password has {len(new)} characters: use "
            f"{MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH}",
            field="new_password",
        )
    if new == current:
        raise InputError(
            "the new password equals the current one: choose a different one",
            field="new_password",
        )
    account.password_hash = _HASHER.hash(new)
    session.execute(
        update(BrowserSession)
        .where(
            BrowserSession.account_id == account_id,
            BrowserSession.revoked_at.is_(None),
            BrowserSession.token_sha256 != digest(keep_session_token),
        )
        .values(revoked_at=at)
    )
    session.execute(
        update(ApiToken)
        .where(ApiToken.account_id == account_id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=at)
    )
    audit.append(
        session,
        [
            audit.AuditRecord(
                at=at,
                action="password_changed",
                subject=f"account:{account_id}",
                actor=f"account:{account_id}",
                customer_id=account.customer_id,
            )
        ],
    )
    logger.info("account %s changed its password", account_id)
