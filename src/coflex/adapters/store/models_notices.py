"""Tables of event changes: changed and cancelled events, sites withdrawn from one."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from coflex.adapters.store.models import Base, UtcDateTime


class EventChange(Base):
    """An operator's change or cancellation of an announced event."""

    __tablename__ = "event_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # "change" or "cancel"
    changed_at: Mapped[datetime] = mapped_column(UtcDateTime())
    actor: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(300))
    status_before: Mapped[str] = mapped_column(String(32))
    # {"start": ISO 8601, "end": ISO 8601, "target_kw": float} before and after.
    window_before: Mapped[dict] = mapped_column(JSON)
    window_after: Mapped[dict | None] = mapped_column(JSON)


class SiteWithdrawal(Base):
    """A site taken out of an event after its plan: opt-out, late change notice.

    The process that runs the event releases the site's devices at its next
    step and fills ``applied_at``; until then the row is pending.
    """

    __tablename__ = "site_withdrawals"
    __table_args__ = (
        Index("ix_site_withdrawals_event_site", "event_id", "site_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id"))
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    reason: Mapped[str] = mapped_column(String(48))
    detail: Mapped[str] = mapped_column(String(300))
    channel: Mapped[str] = mapped_column(String(16))  # portal, app, cli, coflex
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    requested_at: Mapped[datetime] = mapped_column(UtcDateTime())
    applied_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
