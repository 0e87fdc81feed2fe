"""Flexibility request validation: bad requests name the value and the fix."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from coflex.domain.operations.requests import FlexibilityRequest, validate_request
from coflex.domain.programs import EventClass, ProgramTerms
from coflex.errors import RequestError

START = datetime(2026, 7, 21, 19, 0, tzinfo=UTC)
REQUEST = FlexibilityRequest(
    requester="grid",
    received_at=START - timedelta(hours=3),
    start=START,
    end=START + timedelta(hours=3),
    target_kw=100.0,
    event_class=EventClass.RELIABILITY,
)


def test_valid_request_passes() -> None:
    validate_request(REQUEST, ProgramTerms())


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"end": START - timedelta(minutes=1)}, "end", "not after its start"),
        ({"end": START}, "end", "not after its start"),
        ({"target_kw": 0.0}, "target_kw", "not positive"),
        ({"target_kw": -5.0}, "target_kw", "not positive"),
        ({"target_kw": float("nan")}, "target_kw", "not positive"),
        ({"end": START + timedelta(hours=5)}, "end", "at most 4.00 h"),
        ({"received_at": START + timedelta(minutes=1)}, "start", "past window"),
        ({"start": datetime(2026, 7, 21, 19, 0)}, "start", "no timezone"),
        ({"event_class": EventClass.FAST}, "event_class", "does not match"),
    ],
)
def test_invalid_request_rejected(changes: dict, field: str, words: str) -> None:
    with pytest.raises(RequestError) as caught:
        validate_request(replace(REQUEST, **changes), ProgramTerms())
    assert caught.value.field == field
    assert words in caught.value.message
    assert caught.value.exit_status == 2
