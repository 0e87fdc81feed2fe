"""Competition rules: free exit for households, comparable site identifiers."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time
from decimal import Decimal

import pytest

from coflex.domain.enrollment.competition import (
    RELEASE_MESSAGE,
    OtherEnrollment,
    check_no_exit_fees,
    conflicts,
    normalize_service,
    normalize_service_point,
)
from coflex.errors import InputError, RuleViolation
from coflex.services.contracting import retain_until
from coflex.services.demo import PROFILE
from coflex.services.demo_contracts import demo_offer
from coflex.services.enrollment_documents import DocumentRenderer, final_statement_html
from coflex.services.fleet_contracts import ProgramOffer


@pytest.mark.parametrize("name", ["exit_fee", "switching_fee"])
def test_household_fee_rejected(name: str) -> None:
    """No switching or exit fees for households."""
    fees = {"exit_fee": Decimal("0"), "switching_fee": Decimal("0")}
    fees[name] = Decimal("25.00")
    with pytest.raises(RuleViolation, match=f"{name} 25.00 is not allowed"):
        check_no_exit_fees("household", **fees)


def test_household_without_fees_allowed() -> None:
    check_no_exit_fees("household", Decimal("0"), Decimal("0"))


def test_business_fee_allowed_by_rule() -> None:
    check_no_exit_fees("business", Decimal("25"), Decimal("0"))


def test_unknown_customer_class() -> None:
    with pytest.raises(InputError, match="unknown customer class 'tenant'"):
        check_no_exit_fees("tenant", Decimal("0"), Decimal("0"))


def test_household_offer_with_exit_fee_rejected() -> None:
    with pytest.raises(RuleViolation, match="exit_fee 49.00"):
        replace(demo_offer(PROFILE, "Peak"), exit_fee=Decimal("49.00"))


def test_offer_json_round_trip() -> None:
    offer = demo_offer(PROFILE, "Peak")
    assert ProgramOffer.from_json(offer.to_json()) == offer


def test_service_point_spellings_match() -> None:
    assert normalize_service_point("3000 1234-567") == normalize_service_point(
        "30001234567"
    )


def test_service_point_empty_rejected() -> None:
    with pytest.raises(InputError, match="service-point id"):
        normalize_service_point(" - ")


def test_conflict_same_service_only() -> None:
    same = OtherEnrollment("GridCo", "Demand Response", "Peak Saver", "declaration")
    other = OtherEnrollment("SunCo", "solar export", "Net metering", "declaration")
    assert conflicts(normalize_service("demand_response"), [same, other]) == [same]


@pytest.mark.parametrize(
    ("jurisdiction", "accepted", "ended", "expected"),
    [
        # 6 years from acceptance outlasts a short contract's end + 2 years.
        ("US-NC", date(2026, 5, 1), date(2026, 6, 1), date(2032, 5, 1)),
        # A 5-year contract: its end + 2 years is the longest.
        ("US-NC", date(2026, 5, 1), date(2031, 5, 1), date(2033, 5, 1)),
        # Texas asks 2 years, which never beats the 6-year floor.
        ("US-TX", date(2026, 5, 1), date(2026, 6, 1), date(2032, 5, 1)),
        # 29 February moves to 28 February.
        ("US-NC", date(2028, 2, 29), date(2028, 3, 1), date(2034, 2, 28)),
    ],
)
def test_retain_until_longest_rule(
    jurisdiction: str, accepted: date, ended: date, expected: date
) -> None:
    """Records are kept for max(jurisdiction minimum, end + 2 years, 6 years)."""

    def at(day: date) -> datetime:
        return datetime.combine(day, time(12), UTC)

    assert retain_until(at(accepted), at(ended), jurisdiction) == expected


def test_final_statement_tells_release() -> None:
    """The customer is told the devices stay controllable by them and others."""
    html = final_statement_html(
        DocumentRenderer(), "Mary Smith", "C1", "Peak",
        datetime(2026, 6, 1, tzinfo=UTC), 12.5, 3, "USD", date(2032, 5, 1),
    )  # fmt: skip
    assert RELEASE_MESSAGE in " ".join(html.split())
    assert "until 2032-05-01" in html
