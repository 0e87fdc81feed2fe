"""Tables of the web platform: accounts, sessions, API tokens, override inbox.

Secrets are never stored: passwords as argon2 hashes, session and API tokens
as SHA-256 digests of 256-bit random values.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from coflex.adapters.store.crypto import EncryptedText
from coflex.adapters.store.models import Base, UtcDateTime


class Account(Base):
    """A person or device that signs in, with one role.

    The role decides what the account may do; the owner columns decide on
    which data: ``customer_id`` for a customer, ``aggregator_id`` for an
    operator, sales representative or grid operator, ``jurisdiction`` for a
    regulator and ``device_id`` for a device.
    """

    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(24))
    display_name: Mapped[str] = mapped_column(EncryptedText())
    password_hash: Mapped[str | None] = mapped_column(String(200))
    aggregator_id: Mapped[int | None] = mapped_column(ForeignKey("aggregators.id"))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    device_id: Mapped[int | None] = mapped_column(ForeignKey("devices.id"))
    jurisdiction: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    disabled_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class BrowserSession(Base):
    """A signed-in browser: the cookie carries the token, the row its digest."""

    __tablename__ = "browser_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class ApiToken(Base):
    """A bearer token for API clients and devices."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class PendingOverride(Base):
    """A customer's override request waiting for the event runner.

    The web stores the request at once; the runner takes it at its next step,
    releases the site's devices, records an ``Override`` and marks this row
    honoured, all in one transaction.
    """

    __tablename__ = "pending_overrides"
    __table_args__ = (Index("ix_pending_overrides_event_status", "event_id", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id"))
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    channel: Mapped[str] = mapped_column(String(16))
    requested_at: Mapped[datetime] = mapped_column(UtcDateTime())
    status: Mapped[str] = mapped_column(String(16))
    honoured_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
