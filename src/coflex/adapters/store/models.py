"""SQLAlchemy 2 tables of the coflex store.

Timestamps are stored timezone-aware in UTC. Interval meter data is stored as
one row per site and local day with the day's readings packed as float32, which
keeps 10,000 sites × 46 days at 460,000 rows instead of 44 million.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    event,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from coflex.adapters.store.crypto import (
    EncryptedText,
    email_hmac_default,
    lookup_hash,
)


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and read back timezone-aware on every backend.

    SQLite has no timezone type and returns naive values, so naive values read
    back are tagged as UTC; naive values written are rejected.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(
        self, value: datetime | None, dialect: Dialect
    ) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: pass a timezone-aware time")
        return value.astimezone(UTC)

    def process_result_value(
        self, value: datetime | None, dialect: Dialect
    ) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    pass


class Aggregator(Base):
    __tablename__ = "aggregators"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    jurisdiction: Mapped[str] = mapped_column(String(64))
    registration_number: Mapped[str] = mapped_column(String(64))
    registered_at: Mapped[datetime] = mapped_column(UtcDateTime())


class Program(Base):
    __tablename__ = "programs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    aggregator_id: Mapped[int] = mapped_column(ForeignKey("aggregators.id"))
    name: Mapped[str] = mapped_column(String(200))
    event_class: Mapped[str] = mapped_column(String(32))
    terms: Mapped[dict] = mapped_column(JSON)
    terms_hash: Mapped[str] = mapped_column(String(64))
    season_start: Mapped[date] = mapped_column(Date)
    season_end: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    aggregator_id: Mapped[int] = mapped_column(ForeignKey("aggregators.id"))
    reference: Mapped[str] = mapped_column(String(32), unique=True)
    # Personal data is stored encrypted (coflex.adapters.store.crypto).
    name: Mapped[str] = mapped_column(EncryptedText())
    email: Mapped[str | None] = mapped_column(EncryptedText())
    phone: Mapped[str | None] = mapped_column(EncryptedText())
    postal_address: Mapped[str | None] = mapped_column(EncryptedText())
    # HMAC of the normalised email, for sign-in by email without the plain text.
    email_hmac: Mapped[str | None] = mapped_column(
        String(64), index=True, default=email_hmac_default
    )
    preferred_channel: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


@event.listens_for(Customer.email, "set")
def _hash_email(target: Customer, value: str | None, *_: object) -> None:
    target.email_hmac = lookup_hash(value)


class Site(Base):
    __tablename__ = "sites"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    latitude: Mapped[float] = mapped_column(Float)
    longitude: Mapped[float] = mapped_column(Float)
    timezone: Mapped[str] = mapped_column(String(64))
    medical_equipment: Mapped[bool] = mapped_column(Boolean)
    vulnerable_occupants: Mapped[bool] = mapped_column(Boolean)
    base_load_day_offset: Mapped[int] = mapped_column(Integer)
    base_load_scale: Mapped[float] = mapped_column(Float)


class Contract(Base):
    __tablename__ = "contracts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"))
    status: Mapped[str] = mapped_column(String(16))
    # Empty until the customer accepts: draft and offered contracts have neither.
    accepted_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    cooling_off_ends_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    activated_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    terminated_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    terms: Mapped[dict] = mapped_column(JSON)
    terms_hash: Mapped[str] = mapped_column(String(64))


class Consent(Base):
    __tablename__ = "consents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    purpose: Mapped[str] = mapped_column(String(32))
    scope: Mapped[str] = mapped_column(String(200))
    channel: Mapped[str] = mapped_column(String(16))
    granted_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # Who receives the data under this consent, when a third party does
    # (the utility or the ISO for the "sharing" purpose).
    recipient: Mapped[str | None] = mapped_column(String(200))


class Device(Base):
    __tablename__ = "devices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    model_index: Mapped[int] = mapped_column(Integer)
    parameters: Mapped[dict] = mapped_column(JSON)


class MeterDay(Base):
    """A site's interval energy for one local day, packed as float32 [kWh]."""

    __tablename__ = "meter_days"
    __table_args__ = (UniqueConstraint("site_id", "day"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    day: Mapped[date] = mapped_column(Date)
    interval_s: Mapped[int] = mapped_column(Integer)
    energy_kwh: Mapped[bytes] = mapped_column(LargeBinary)
    source: Mapped[str] = mapped_column(String(32))


class FlexibilityRequest(Base):
    __tablename__ = "flexibility_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    requester: Mapped[str] = mapped_column(String(200))
    received_at: Mapped[datetime] = mapped_column(UtcDateTime())
    start: Mapped[datetime] = mapped_column(UtcDateTime())
    end: Mapped[datetime] = mapped_column(UtcDateTime())
    target_kw: Mapped[float] = mapped_column(Float)
    event_class: Mapped[str] = mapped_column(String(32))


class Event(Base):
    __tablename__ = "events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("flexibility_requests.id"))
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"))
    status: Mapped[str] = mapped_column(String(32))
    start: Mapped[datetime] = mapped_column(UtcDateTime())
    end: Mapped[datetime] = mapped_column(UtcDateTime())
    target_kw: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    summary: Mapped[dict | None] = mapped_column(JSON)


class EligibilityDecision(Base):
    """Why each site was or was not taken into an event."""

    __tablename__ = "eligibility_decisions"
    __table_args__ = (Index("ix_eligibility_event_site", "event_id", "site_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id"))
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    device_id: Mapped[int | None] = mapped_column(ForeignKey("devices.id"))
    eligible: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str | None] = mapped_column(String(48))
    detail: Mapped[str | None] = mapped_column(String(300))
    decided_at: Mapped[datetime] = mapped_column(UtcDateTime())


class Participation(Base):
    """A device's part in an event: planned, reserve, dispatched, released."""

    __tablename__ = "participations"
    __table_args__ = (UniqueConstraint("event_id", "device_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id"))
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id"))
    role: Mapped[str] = mapped_column(String(16))
    predicted_flex_kw: Mapped[float] = mapped_column(Float)
    planned_fraction: Mapped[float] = mapped_column(Float)
    dispatched_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    released_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    release_reason: Mapped[str | None] = mapped_column(String(48))


class Notice(Base):
    """A customer notice in the durable outbox, with its delivery receipt."""

    __tablename__ = "notices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id"), index=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    kind: Mapped[str] = mapped_column(String(16))
    channel: Mapped[str] = mapped_column(String(16))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    status: Mapped[str] = mapped_column(String(16))
    # ``notice:<event>:<customer>:<kind>`` for notices sent through the outbox;
    # a channel that has seen the key does not deliver the notice again.
    idempotency_key: Mapped[str | None] = mapped_column(String(96), unique=True)


class DeviceCommand(Base):
    """A command sent to a device through its adapter, with its acknowledgement."""

    __tablename__ = "device_commands"
    __table_args__ = (Index("ix_commands_event_device", "event_id", "device_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id"))
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id"))
    action: Mapped[str] = mapped_column(String(16))
    value: Mapped[float | None] = mapped_column(Float)
    reason: Mapped[str] = mapped_column(String(48))
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime())
    acknowledged_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class Override(Base):
    __tablename__ = "overrides"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id"), index=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    channel: Mapped[str] = mapped_column(String(16))
    requested_at: Mapped[datetime] = mapped_column(UtcDateTime())
    honoured_at: Mapped[datetime] = mapped_column(UtcDateTime())
    penalty: Mapped[float] = mapped_column(Float)


class SafetyRelease(Base):
    __tablename__ = "safety_releases"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id"), index=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id"))
    released_at: Mapped[datetime] = mapped_column(UtcDateTime())
    reason: Mapped[str] = mapped_column(String(48))
    observed_value: Mapped[float] = mapped_column(Float)
    limit_value: Mapped[float] = mapped_column(Float)


class EventTrace(Base):
    """Per-step fleet totals of an event: requested, planned and delivered kW."""

    __tablename__ = "event_traces"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id"), index=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    requested_kw: Mapped[float] = mapped_column(Float)
    commanded_kw: Mapped[float] = mapped_column(Float)
    fleet_power_kw: Mapped[float] = mapped_column(Float)
    counterfactual_kw: Mapped[float] = mapped_column(Float)
    devices_under_control: Mapped[int] = mapped_column(Integer)


class Baseline(Base):
    """A site's baseline for an event, with what is needed to recompute it."""

    __tablename__ = "baselines"
    __table_args__ = (UniqueConstraint("event_id", "site_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id"))
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    method: Mapped[str] = mapped_column(String(48))
    parameters: Mapped[dict] = mapped_column(JSON)
    days_used: Mapped[list] = mapped_column(JSON)
    adjustment: Mapped[float] = mapped_column(Float)
    baseline_kwh: Mapped[bytes] = mapped_column(LargeBinary)
    actual_kwh: Mapped[bytes] = mapped_column(LargeBinary)
    delivered_kwh: Mapped[float] = mapped_column(Float)
    uncertainty_kwh: Mapped[float | None] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16))
    findings: Mapped[list] = mapped_column(JSON)


class Settlement(Base):
    __tablename__ = "settlements"
    __table_args__ = (UniqueConstraint("event_id", "site_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id"))
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    delivered_kwh: Mapped[float] = mapped_column(Float)
    payment: Mapped[float] = mapped_column(Float)
    currency: Mapped[str] = mapped_column(String(3))
    shares: Mapped[dict] = mapped_column(JSON)


class Statement(Base):
    """A participant's feedback statement, kept as a record."""

    __tablename__ = "statements"
    __table_args__ = (UniqueConstraint("event_id", "customer_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime())
    html: Mapped[str] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(64))


class EventReport(Base):
    __tablename__ = "event_reports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id"), unique=True)
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime())
    html: Mapped[str] = mapped_column(Text)
    summary: Mapped[dict] = mapped_column(JSON)


from coflex.adapters.store import models_devices  # noqa: E402,F401
from coflex.adapters.store import models_governance  # noqa: E402,F401
from coflex.adapters.store import models_web  # noqa: E402,F401
from coflex.adapters.store import models_operations  # noqa: E402,F401
from coflex.adapters.store import models_enrollment  # noqa: E402,F401
from coflex.adapters.store import models_openadr  # noqa: E402,F401
from coflex.adapters.store import models_records  # noqa: E402,F401
from coflex.adapters.store import models_notices  # noqa: E402,F401
