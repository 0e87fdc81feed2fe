"""Tables of the operations area: command vetoes and automation documents."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from coflex.adapters.store.models import Base, UtcDateTime


class CommandVeto(Base):
    """A command the health-and-safety policy stopped before it was sent."""

    __tablename__ = "command_vetoes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id"), index=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id"))
    vetoed_at: Mapped[datetime] = mapped_column(UtcDateTime())
    rule: Mapped[str] = mapped_column(String(48))
    detail: Mapped[str] = mapped_column(String(300))
    policy_version: Mapped[str] = mapped_column(String(32))


class AutomationDocument(Base):
    """The plain-language account of how a customer's devices are controlled."""

    __tablename__ = "automation_documents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime())
    terms_hash: Mapped[str] = mapped_column(String(64))
    content_hash: Mapped[str] = mapped_column(String(64))
    html: Mapped[str] = mapped_column(Text)
