"""Request bodies of the OpenADR 3.1 VTN, checked before anything is stored.

Only the fields coflex relies on are declared; other fields of the
specification's objects are kept as sent. Times must be full RFC 3339
date-times with an offset, and durations ISO 8601 durations without sign.

References
----------
OpenADR Alliance, "OpenADR 3.1.0 Specification", openadr3.yaml components.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

_DURATION = re.compile(
    r"^P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?$"
)


def _duration(value: str) -> str:
    if not _DURATION.match(value):
        raise ValueError(
            f"{value!r} is not an unsigned ISO 8601 duration such as PT1H30M"
        )
    return value


Duration = Annotated[str, AfterValidator(_duration)]
Name = Field(min_length=1, max_length=128)


class _Object(BaseModel):
    model_config = ConfigDict(extra="allow")


class IntervalPeriod(_Object):
    start: AwareDatetime
    duration: Duration | None = None
    randomizeStart: Duration | None = None


class Payload(_Object):
    type: str = Name
    values: list[Any] = Field(min_length=1)


class Interval(_Object):
    id: int
    intervalPeriod: IntervalPeriod | None = None
    payloads: list[Payload] = Field(min_length=1)


class Program(_Object):
    programName: str = Name
    intervalPeriod: IntervalPeriod | None = None
    targets: list[str] | None = None


class Event(_Object):
    programID: str = Name
    eventName: str | None = None
    intervalPeriod: IntervalPeriod | None = None
    intervals: list[Interval] = Field(min_length=1)
    targets: list[str] | None = None


class Ven(_Object):
    venName: str = Name
    targets: list[str] | None = None


class Resource(_Object):
    resourceName: str = Name
    venID: str = Name
    targets: list[str] | None = None


class ReportResource(_Object):
    resourceName: str = Name
    intervalPeriod: IntervalPeriod | None = None
    intervals: list[Interval] = Field(min_length=1)


class Report(_Object):
    eventID: str = Name
    clientName: str = Name
    reportName: str | None = None
    resources: list[ReportResource] = Field(min_length=1)


class ObjectOperation(_Object):
    objects: list[str] = Field(min_length=1)
    operations: list[str] = Field(min_length=1)
    callbackUrl: str = Field(min_length=1, max_length=500)
    bearerToken: str | None = None


class Subscription(_Object):
    clientName: str = Name
    programID: str | None = None
    objectOperations: list[ObjectOperation] = Field(min_length=1)
    targets: list[str] | None = None


SCHEMAS: dict[str, type[_Object]] = {
    "PROGRAM": Program,
    "EVENT": Event,
    "VEN": Ven,
    "RESOURCE": Resource,
    "REPORT": Report,
    "SUBSCRIPTION": Subscription,
}
