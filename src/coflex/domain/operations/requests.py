"""Validation of flexibility requests received from the grid."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from coflex.domain.programs import EventClass, ProgramTerms
from coflex.errors import RequestError


@dataclass(frozen=True)
class FlexibilityRequest:
    """A grid operator's request to reduce load [kW] over a window."""

    requester: str
    received_at: datetime
    start: datetime
    end: datetime
    target_kw: float
    event_class: EventClass

    @property
    def duration_s(self) -> float:
        return (self.end - self.start).total_seconds()


def validate_request(request: FlexibilityRequest, terms: ProgramTerms) -> None:
    """Reject a request that no program could honour.

    Raises
    ------
    RequestError
        If a time is naive, the window is empty or reversed, the target is not
        a positive number, the window is longer than the program's maximum
        event length, or the class differs from the program's class.
    """
    for name in ("received_at", "start", "end"):
        value = getattr(request, name)
        if value.tzinfo is None:
            raise RequestError(
                f"request {name} {value.isoformat()} has no timezone: "
                "give times with an offset, e.g. 2026-07-21T15:00:00-04:00",
                value=value,
                field=name,
            )
    if request.end <= request.start:
        raise RequestError(
            f"request end {request.end.isoformat()} is not after its start "
            f"{request.start.isoformat()}: give an end later than the start",
            value=request.end,
            field="end",
        )
    if not request.target_kw > 0:
        raise RequestError(
            f"request target {request.target_kw!r} kW is not positive: "
            "give a load reduction greater than 0 kW",
            value=request.target_kw,
            field="target_kw",
        )
    if request.duration_s > terms.max_event_s:
        raise RequestError(
            f"request lasts {request.duration_s / 3600:.2f} h but the program allows "
            f"at most {terms.max_event_s / 3600:.2f} h: shorten the window",
            value=request.duration_s,
            field="end",
        )
    if request.start <= request.received_at:
        raise RequestError(
            f"request start {request.start.isoformat()} is not after its receipt "
            f"{request.received_at.isoformat()}: a past window cannot be dispatched",
            value=request.start,
            field="start",
        )
    if request.event_class != terms.event_class:
        raise RequestError(
            f"request class {request.event_class.value!r} does not match the "
            f"program's class {terms.event_class.value!r}: send it to a program "
            "of that class",
            value=request.event_class.value,
            field="event_class",
        )
