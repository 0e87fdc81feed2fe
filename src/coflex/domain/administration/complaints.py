"""Complaint rules: categories, business-day deadlines, escalation, the final letter.

The Code (section D, Complaints) requires a procedure with its steps and
timing, and for the steps a customer can take when a complaint is not resolved
within a defined time, including a complaint to the regulator. A complaint is
any expression of dissatisfaction, as the UK Consumer Complaints Handling
Standards Regulations 2008 (reg. 2) define it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import TypeVar
from zoneinfo import ZoneInfo

import holidays

from coflex.domain.administration.policy import JurisdictionPolicy
from coflex.errors import InputError


class Category(StrEnum):
    NOTICE = "notice"
    OVERRIDE = "override"
    COMFORT_AND_SAFETY = "comfort_and_safety"
    BASELINE_AND_PAYMENT = "baseline_and_payment"
    SALES = "sales"
    PRIVACY = "privacy"


class IntakeChannel(StrEnum):
    PHONE = "phone"
    PORTAL = "portal"
    API = "api"
    EMAIL = "email"
    LETTER = "letter"


class Status(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    DEADLOCKED = "deadlocked"
    ESCALATED = "escalated"


class Outcome(StrEnum):
    UPHELD = "upheld"
    PARTLY_UPHELD = "partly_upheld"
    NOT_UPHELD = "not_upheld"
    WITHDRAWN = "withdrawn"


E = TypeVar("E", bound=StrEnum)


def parse_choice(kind: type[E], value: str, field: str) -> E:
    """Return the member of ``kind`` named ``value``.

    Raises
    ------
    InputError
        If ``value`` is not one of the members.
    """
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(member.value for member in kind)
        raise InputError(
            f"unknown {field} {value!r}: use one of {allowed}",
            value=value,
            field=field,
        ) from None


@dataclass(frozen=True)
class Deadlines:
    acknowledge_by: datetime
    respond_by: datetime
    escalation_from: datetime


def _is_business_day(day: date, calendar: holidays.HolidayBase) -> bool:
    return day.weekday() < 5 and day not in calendar


def add_business_days(
    received_at: datetime, count: int, policy: JurisdictionPolicy
) -> datetime:
    """Return the end of the ``count``-th business day after the day of receipt.

    The day of receipt does not count. The end of a day is the next local
    midnight, returned as a timezone-aware time. A complaint received on a
    Friday with ``count=2`` is due by the end of Tuesday, or Wednesday when
    that Monday is a public holiday.
    """
    zone = ZoneInfo(policy.timezone)
    day = received_at.astimezone(zone).date()
    calendar = holidays.country_holidays(
        policy.holiday_country,
        subdiv=policy.holiday_subdivision,
        years=range(day.year, day.year + 2),
    )
    counted = 0
    while counted < count:
        day += timedelta(days=1)
        if _is_business_day(day, calendar):
            counted += 1
    return datetime.combine(day + timedelta(days=1), time(), zone)


def deadlines(received_at: datetime, policy: JurisdictionPolicy) -> Deadlines:
    """Compute a complaint's acknowledgement, response and escalation times."""
    return Deadlines(
        acknowledge_by=add_business_days(
            received_at, policy.acknowledge_business_days, policy
        ),
        respond_by=add_business_days(received_at, policy.respond_business_days, policy),
        escalation_from=received_at + policy.escalation_after,
    )


def may_escalate(
    escalation_from: datetime, deadlocked_at: datetime | None, at: datetime
) -> bool:
    """Check the right to go to the regulator: after the period or on deadlock."""
    return at >= escalation_from or (deadlocked_at is not None and deadlocked_at <= at)


OUTCOME_SENTENCES = {
    Outcome.UPHELD: "We agree with your complaint and have put things right as set "
    "out below.",
    Outcome.PARTLY_UPHELD: "We agree with part of your complaint and have put that "
    "part right as set out below.",
    Outcome.NOT_UPHELD: "Having looked into your complaint, we do not agree that we "
    "were at fault, for the reasons below.",
    Outcome.WITHDRAWN: "You told us you no longer wish to pursue this complaint.",
}


@dataclass(frozen=True)
class LetterFacts:
    """Facts stated in a final-response letter; the response is its only free text."""

    reference: str
    customer_name: str
    aggregator_name: str
    received_at: datetime
    response: str
    outcome: Outcome | None
    deadlock: bool
    escalation_from: datetime
    issued_at: datetime


def final_response_letter(facts: LetterFacts, policy: JurisdictionPolicy) -> str:
    """Write the final-response letter, naming the regulator and how to complain to it.

    The letter carries the signposting that the UK Energy Ombudsman expects in a
    final response: the right to refer, that the service is independent and
    free, and from when the customer may use it.
    """
    zone = ZoneInfo(policy.timezone)
    received = facts.received_at.astimezone(zone)
    refer_from = facts.issued_at if facts.deadlock else facts.escalation_from
    if facts.deadlock:
        position = (
            "We have not been able to agree how to settle your complaint. This "
            "letter is our final response, and you may take your complaint to the "
            "regulator now."
        )
    else:
        position = OUTCOME_SENTENCES[facts.outcome or Outcome.NOT_UPHELD]
    lines = [
        f"Final response to complaint {facts.reference}",
        "",
        f"Dear {facts.customer_name},",
        "",
        f"You contacted {facts.aggregator_name} on {received:%d %B %Y}. {position}",
        "",
        facts.response,
        "",
        "If you are not satisfied",
        f"You have the right to refer your complaint to {policy.regulator} "
        f"({policy.regulator_contact}) from "
        f"{refer_from.astimezone(zone):%d %B %Y}. The regulator is independent "
        "of us, and it costs you nothing. It can look at whether we followed the "
        "rules and order us to put things right.",
        "",
        f"Please quote reference {facts.reference}.",
        "",
        facts.aggregator_name,
    ]
    return "\n".join(lines)
