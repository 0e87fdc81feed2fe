"""Tables of the operations area: vetoes, automation documents, the command outbox."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, ForeignKey, Integer, LargeBinary, String, Text
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


class CommandOutbox(Base):
    """A device command written with the runner's decision, before it is delivered.

    ``idempotency_key`` is ``<event>:<device>:<round>:<kind>``, so a command
    decided once is stored once however often the runner restarts. ``kind``
    is ``dispatch`` (curtail), ``release`` (a restore during the event) or
    ``restore`` (the restore at the event end). ``status`` goes from
    ``pending`` to ``acknowledged`` or ``rejected`` when the device responds.
    """

    __tablename__ = "command_outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id"), index=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id"))
    round: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    idempotency_key: Mapped[str] = mapped_column(String(96), unique=True)
    action: Mapped[str] = mapped_column(String(16))
    value: Mapped[float | None] = mapped_column(Float)
    reason: Mapped[str] = mapped_column(String(48))
    until: Mapped[datetime | None] = mapped_column(UtcDateTime())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    status: Mapped[str] = mapped_column(String(16))
    answered_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    detail: Mapped[str | None] = mapped_column(String(200))


class EventCheckpoint(Base):
    """How far a run of an event got, and what is needed to resume it.

    ``job`` contains the run's fixed inputs, written once. ``state`` contains
    the runner's state in round ``last_round``, and ``devices`` the state of a
    simulated fleet, written only when it changed. ``phase`` is ``deciding``
    while the round's decisions are stored in batches, ``decided`` once they
    all are, ``delivering`` while acknowledgements are stored in batches, and
    ``delivered`` once every acknowledgement is stored.
    """

    __tablename__ = "event_checkpoints"

    event_id: Mapped[int] = mapped_column(ForeignKey("events.id"), primary_key=True)
    stage: Mapped[str] = mapped_column(String(16))
    last_round: Mapped[int] = mapped_column(Integer)
    phase: Mapped[str] = mapped_column(String(16))
    job: Mapped[bytes] = mapped_column(LargeBinary)
    state: Mapped[bytes | None] = mapped_column(LargeBinary)
    devices: Mapped[bytes | None] = mapped_column(LargeBinary)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    resumes: Mapped[int] = mapped_column(Integer, default=0)
    # Why the last resume skipped steps, e.g. the event end had passed.
    note: Mapped[str | None] = mapped_column(String(300))
