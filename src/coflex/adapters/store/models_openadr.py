"""Tables of the OpenADR adapters: upstream 2.0b events, the 3.1 VTN, rejections.

Upstream, coflex is a VEN of a utility's OpenADR 2.0b VTN: every event it
receives is kept with the times read from the wire and the opt response sent.
Downstream, coflex is an OpenADR 3.1 VTN: its clients, tokens and objects
(programs, events, reports, subscriptions, VENs, resources) are kept here,
each object as its JSON body beside the columns that the read scopes filter on.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from coflex.adapters.store.models import Base, UtcDateTime


class OpenAdr2Event(Base):
    """An event received from an upstream OpenADR 2.0b VTN and the opt response sent.

    ``notice_given_s`` is the event start minus the VTN's createdDateTime and
    ``notice_received_s`` the start minus the time coflex received it: the
    notice actually given, whatever notification period the VTN claimed.
    """

    __tablename__ = "openadr2_events"
    __table_args__ = (
        UniqueConstraint("vtn_id", "vtn_event_id", "modification_number"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    vtn_id: Mapped[str] = mapped_column(String(128))
    ven_id: Mapped[str] = mapped_column(String(128))
    vtn_event_id: Mapped[str] = mapped_column(String(128))
    modification_number: Mapped[int] = mapped_column(Integer)
    event_status: Mapped[str] = mapped_column(String(16))
    signal_name: Mapped[str] = mapped_column(String(64))
    signal_type: Mapped[str] = mapped_column(String(32))
    signal_value: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    received_at: Mapped[datetime] = mapped_column(UtcDateTime())
    start: Mapped[datetime] = mapped_column(UtcDateTime())
    end: Mapped[datetime] = mapped_column(UtcDateTime())
    notice_given_s: Mapped[float] = mapped_column(Float)
    notice_received_s: Mapped[float] = mapped_column(Float)
    target_kw: Mapped[float | None] = mapped_column(Float)
    opt: Mapped[str] = mapped_column(String(8))
    reason: Mapped[str] = mapped_column(String(500))
    event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id"))


class ProtocolRejection(Base):
    """A message that an OpenADR endpoint rejected, with the status it returned."""

    __tablename__ = "openadr_rejections"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    protocol: Mapped[str] = mapped_column(String(8))
    peer: Mapped[str | None] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(48))
    status_code: Mapped[int] = mapped_column(Integer)
    detail: Mapped[str] = mapped_column(String(500))
    received_at: Mapped[datetime] = mapped_column(UtcDateTime())


class Oa3Client(Base):
    """An OAuth2 client of the OpenADR 3.1 VTN: a VEN or the business logic."""

    __tablename__ = "oa3_clients"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[str] = mapped_column(String(128), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(8))
    # The coflex site whose devices this VEN controls; none for business logic.
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class Oa3Token(Base):
    """A bearer token issued by the VTN, stored as its SHA-256 digest."""

    __tablename__ = "oa3_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("oa3_clients.client_id"))
    scopes: Mapped[str] = mapped_column(String(300))
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())


class Oa3Object(Base):
    """A program, event, report, subscription, VEN or resource of the 3.1 VTN."""

    __tablename__ = "oa3_objects"
    __table_args__ = (
        Index("ix_oa3_objects_type_client", "object_type", "client_id"),
        Index("ix_oa3_objects_type_program", "object_type", "program_id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    object_type: Mapped[str] = mapped_column(String(16))
    # The client that created the object; object privacy filters on it.
    client_id: Mapped[str] = mapped_column(String(128))
    name: Mapped[str | None] = mapped_column(String(128))
    program_id: Mapped[str | None] = mapped_column(String(36))
    event_id: Mapped[str | None] = mapped_column(String(36))
    ven_id: Mapped[str | None] = mapped_column(String(36))
    targets: Mapped[list] = mapped_column(JSON)
    body: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    modified_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # The coflex event an OpenADR event publishes, if any.
    coflex_event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id"))


class Oa3Delivery(Base):
    """One webhook notification sent for a subscription, with its outcome."""

    __tablename__ = "oa3_deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subscription_id: Mapped[str] = mapped_column(String(36), index=True)
    object_type: Mapped[str] = mapped_column(String(16))
    operation: Mapped[str] = mapped_column(String(8))
    object_id: Mapped[str] = mapped_column(String(36))
    callback_url: Mapped[str] = mapped_column(String(500))
    status_code: Mapped[int | None] = mapped_column(Integer)
    attempts: Mapped[int] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
