"""Complaint deadlines on business-day calendars, escalation rights and the letter."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from coflex.domain.administration import complaints as rules
from coflex.domain.administration.policy import POLICIES, policy_for
from coflex.errors import InputError

ET = ZoneInfo("America/New_York")
NC = POLICIES["US-NC"]


def test_friday_acknowledged_by_tuesday_end() -> None:
    received = datetime(2026, 7, 17, 10, 0, tzinfo=ET)  # a Friday
    due = rules.add_business_days(received, 2, NC)
    assert due == datetime(2026, 7, 22, 0, 0, tzinfo=ET)


def test_observed_holiday_skipped() -> None:
    """4 July 2026 is a Saturday, so Friday 3 July is the observed holiday."""
    received = datetime(2026, 7, 2, 16, 0, tzinfo=ET)  # a Thursday
    due = rules.add_business_days(received, 2, NC)
    assert due == datetime(2026, 7, 8, 0, 0, tzinfo=ET)


def test_late_evening_counts_local_day() -> None:
    """23:30 in New York is already the next day in UTC; the local day counts."""
    received = datetime(2026, 7, 20, 23, 30, tzinfo=ET)  # a Monday
    due = rules.add_business_days(received, 2, NC)
    assert due == datetime(2026, 7, 23, 0, 0, tzinfo=ET)


def test_nc_escalation_after_eight_weeks() -> None:
    """Code D, Complaints: steps a customer can take after a defined period."""
    received = datetime(2026, 7, 17, 10, 0, tzinfo=ET)
    due = rules.deadlines(received, NC)
    assert due.escalation_from == received + timedelta(weeks=8)


def test_ny_escalation_after_two_weeks() -> None:
    received = datetime(2026, 7, 17, 10, 0, tzinfo=ET)
    due = rules.deadlines(received, POLICIES["US-NY"])
    assert due.escalation_from == received + timedelta(weeks=2)


def test_response_target_twenty_business_days() -> None:
    received = datetime(2026, 8, 10, 9, 0, tzinfo=ET)  # a Monday; 7 Sep is Labor Day
    due = rules.deadlines(received, NC)
    assert due.respond_by == datetime(2026, 9, 9, 0, 0, tzinfo=ET)


def test_no_escalation_before_period() -> None:
    start = datetime(2026, 7, 17, tzinfo=ET)
    assert not rules.may_escalate(start + timedelta(weeks=8), None, start)


def test_deadlock_opens_escalation_early() -> None:
    start = datetime(2026, 7, 17, tzinfo=ET)
    assert rules.may_escalate(start + timedelta(weeks=8), start, start)


def test_unknown_category_lists_allowed() -> None:
    with pytest.raises(InputError, match="baseline_and_payment"):
        rules.parse_choice(rules.Category, "billing", "category")


def test_unknown_jurisdiction_rejected() -> None:
    with pytest.raises(InputError, match="US-NC"):
        policy_for("XX")


@pytest.mark.parametrize("deadlock", [False, True])
def test_letter_signposts_regulator(deadlock: bool) -> None:
    received = datetime(2026, 7, 17, 10, 0, tzinfo=ET)
    letter = rules.final_response_letter(
        rules.LetterFacts(
            reference="CMP-000001",
            customer_name="Ada Moss",
            aggregator_name="Piedmont Flex",
            received_at=received,
            response="We recomputed your baseline.",
            outcome=None if deadlock else rules.Outcome.UPHELD,
            deadlock=deadlock,
            escalation_from=received + timedelta(weeks=8),
            issued_at=received + timedelta(days=10),
        ),
        NC,
    )
    assert NC.regulator in letter
    assert NC.regulator_contact in letter
    assert "independent" in letter
    assert "costs you nothing" in letter
    assert "27 July 2026" in letter if deadlock else "11 September 2026" in letter
