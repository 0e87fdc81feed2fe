"""Request and response bodies of the API (pydantic models)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Generic, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from coflex.domain.programs import EventClass

MAX_ID = 2**31 - 1
Item = TypeVar("Item")


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class Page(BaseModel, Generic[Item]):
    """One page of a list in ascending id order; pass ``next_after`` as ``after``."""

    items: list[Item]
    next_after: int | None = Field(
        description="The id to pass as 'after' for the next page; null on the last."
    )


class Filters(BaseModel):
    """Pagination shared by every list; each resource adds equality filters."""

    model_config = ConfigDict(extra="forbid")

    limit: int = Field(50, ge=1, le=200, description="Items per page.")
    after: int = Field(0, ge=0, le=MAX_ID, description="Return ids above this one.")


def _id_filter(description: str) -> Any:
    return Field(None, ge=1, le=MAX_ID, description=description)


class AggregatorOut(Out):
    id: int
    name: str
    jurisdiction: str
    registration_number: str
    registered_at: datetime


class ProgramOut(Out):
    id: int
    aggregator_id: int
    name: str
    event_class: str
    terms: dict[str, Any]
    terms_hash: str
    season_start: date
    season_end: date
    created_at: datetime


class ProgramFilters(Filters):
    event_class: EventClass | None = None


class CustomerOut(Out):
    id: int
    aggregator_id: int
    reference: str
    name: str
    email: str | None
    phone: str | None
    preferred_channel: str
    created_at: datetime


class CustomerFilters(Filters):
    preferred_channel: str | None = Field(None, max_length=16)


class SiteOut(Out):
    id: int
    customer_id: int
    latitude: float
    longitude: float
    timezone: str
    medical_equipment: bool
    vulnerable_occupants: bool


class SiteFilters(Filters):
    customer_id: int | None = _id_filter("Sites of this customer.")


class DeviceOut(Out):
    id: int
    site_id: int
    kind: str
    parameters: dict[str, Any]


class DeviceFilters(Filters):
    site_id: int | None = _id_filter("Devices at this site.")
    kind: str | None = Field(None, max_length=16)


class ContractOut(Out):
    id: int
    customer_id: int
    program_id: int
    status: str
    accepted_at: datetime
    cooling_off_ends_at: datetime
    activated_at: datetime | None
    terminated_at: datetime | None
    terms: dict[str, Any]
    terms_hash: str


class ContractFilters(Filters):
    customer_id: int | None = _id_filter("Contracts of this customer.")
    program_id: int | None = _id_filter("Contracts under this program.")
    status: str | None = Field(None, max_length=16)


class ConsentOut(Out):
    id: int
    customer_id: int
    purpose: str
    scope: str
    channel: str
    granted_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


class ConsentFilters(Filters):
    customer_id: int | None = _id_filter("Consents of this customer.")
    purpose: str | None = Field(None, max_length=32)


class FlexibilityRequestOut(Out):
    id: int
    requester: str
    received_at: datetime
    start: datetime
    end: datetime
    target_kw: float
    event_class: str


class FlexibilityRequestFilters(Filters):
    event_class: EventClass | None = None


class FlexibilityRequestIn(BaseModel):
    """A grid operator's request to reduce load [kW] between start and end."""

    model_config = ConfigDict(extra="forbid")

    program_id: int = Field(ge=1, le=MAX_ID)
    start: AwareDatetime
    end: AwareDatetime
    target_kw: float = Field(gt=0, le=1e7, allow_inf_nan=False)
    event_class: EventClass


class SubmittedRequestOut(BaseModel):
    request: FlexibilityRequestOut
    event_id: int


class EventOut(Out):
    id: int
    request_id: int
    program_id: int
    status: str
    start: datetime
    end: datetime
    target_kw: float
    created_at: datetime


class EventFilters(Filters):
    program_id: int | None = _id_filter("Events of this program.")
    status: str | None = Field(None, max_length=32)


class NoticeOut(Out):
    id: int
    event_id: int
    customer_id: int
    kind: str
    channel: str
    body: str
    created_at: datetime
    sent_at: datetime | None
    delivered_at: datetime | None
    status: str


class NoticeFilters(Filters):
    event_id: int | None = _id_filter("Notices of this event.")
    customer_id: int | None = _id_filter("Notices to this customer.")
    status: str | None = Field(None, max_length=16)


class OverrideOut(Out):
    id: int
    event_id: int
    site_id: int
    channel: str
    requested_at: datetime
    honoured_at: datetime
    penalty: float


class OverrideFilters(Filters):
    event_id: int | None = _id_filter("Overrides of this event.")
    site_id: int | None = _id_filter("Overrides at this site.")


class OverrideIn(BaseModel):
    """Stop the event at one of the customer's sites."""

    model_config = ConfigDict(extra="forbid")

    event_id: int = Field(ge=1, le=MAX_ID)
    site_id: int = Field(ge=1, le=MAX_ID)


class OverrideRequestOut(BaseModel):
    id: int = Field(description="Poll GET /override-requests/{id} for the outcome.")
    event_id: int
    site_id: int
    status: str = Field(description="pending, honoured, duplicate or not_planned")
    requested_at: datetime
    honoured_at: datetime | None


class StatementOut(Out):
    id: int
    event_id: int
    customer_id: int
    issued_at: datetime
    content_hash: str


class StatementFilters(Filters):
    event_id: int | None = _id_filter("Statements of this event.")
    customer_id: int | None = _id_filter("Statements to this customer.")


class DeviceCommandOut(Out):
    id: int
    event_id: int
    device_id: int
    action: str
    value: float | None
    reason: str
    issued_at: datetime
    acknowledged_at: datetime | None


class DeviceCommandFilters(Filters):
    event_id: int | None = _id_filter("Commands of this event.")
    device_id: int | None = _id_filter("Commands to this device.")


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=200)
    name: str = Field("api client", min_length=1, max_length=100)


class TokenOut(BaseModel):
    token: str = Field(description="Send as 'Authorization: Bearer TOKEN'.")
    token_type: str = "bearer"
    expires_at: datetime
