"""Claims that may be published, and the rules for sales representatives."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest

from coflex.domain.enrollment.claims import (
    Claim,
    ClaimKind,
    check_publishable,
    default_expiry,
    typical_customer_figure,
)
from coflex.domain.enrollment.sales import (
    Representative,
    Training,
    check_contact_allowed,
    check_trained,
)
from coflex.errors import ClaimError, SalesRuleError

NOW = datetime(2026, 6, 1, 15, tzinfo=UTC)
CLAIM = Claim(
    id=7,
    statement="Customers earned a median of $42 last summer.",
    kind=ClaimKind.INCOME,
    value=42.0,
    unit="USD/season",
    source="coflex settlements 2025, 212 customers",
    method="median of settled payments per customer",
    assumptions="same number of events as 2025",
    population="residential customers with a smart thermostat",
    as_of=date(2026, 1, 1),
    expires_on=default_expiry(date(2026, 1, 1)),
    risk_statement="Income depends on the number of events and is not guaranteed.",
    reviewer="A. Reviewer",
    reviewed_at=NOW - timedelta(days=30),
)


def test_sourced_reviewed_claim_publishes() -> None:
    check_publishable("summer flyer", [CLAIM], NOW.date())


def test_unsourced_claim_blocks_publishing() -> None:
    with pytest.raises(ClaimError, match="no source"):
        check_publishable("summer flyer", [replace(CLAIM, source="")], NOW.date())


def test_unreviewed_claim_blocks_publishing() -> None:
    with pytest.raises(ClaimError, match="not reviewed"):
        check_publishable("summer flyer", [replace(CLAIM, reviewer=None)], NOW.date())


def test_expired_claim_blocks_publishing() -> None:
    with pytest.raises(ClaimError, match="expired 2027-01-01"):
        check_publishable("summer flyer", [CLAIM], date(2027, 1, 2))


def test_income_claim_needs_risk() -> None:
    with pytest.raises(ClaimError, match="risk"):
        check_publishable(
            "summer flyer", [replace(CLAIM, risk_statement=None)], NOW.date()
        )


def test_performance_claim_without_risk() -> None:
    claim = replace(CLAIM, kind=ClaimKind.PERFORMANCE, risk_statement=None)
    check_publishable("summer flyer", [claim], NOW.date())


def test_claim_expiry_twelve_months() -> None:
    assert default_expiry(date(2026, 1, 1)) == date(2027, 1, 1)


def test_typical_figure_median() -> None:
    figure = typical_customer_figure(np.arange(1.0, 32.0), date(2026, 5, 31))
    assert figure.median == 16.0
    assert figure.customers == 31


def test_typical_figure_says_so() -> None:
    figure = typical_customer_figure(np.arange(1.0, 32.0), date(2026, 5, 31))
    assert "median of 31 customers" in figure.disclosure("USD")


def test_typical_figure_too_few() -> None:
    with pytest.raises(ClaimError, match="found 29"):
        typical_customer_figure(np.ones(29), date(2026, 5, 31))


TRAINED = Representative(
    3,
    "Sam Seller",
    "Door2Door LLC",
    True,
    (
        Training(
            "Code of Conduct sales", NOW - timedelta(days=10), NOW + timedelta(days=355)
        ),
    ),
)


def test_trained_representative_sells() -> None:
    check_trained(TRAINED, NOW)


def test_untrained_representative_rejected() -> None:
    with pytest.raises(SalesRuleError, match="no training record"):
        check_trained(replace(TRAINED, trainings=()), NOW)


def test_expired_training_rejected() -> None:
    with pytest.raises(SalesRuleError, match="expired"):
        check_trained(TRAINED, NOW + timedelta(days=400))


def test_contact_in_hours_allowed() -> None:
    at = datetime(2026, 6, 1, 14, tzinfo=UTC)  # 10:00 in New York
    check_contact_allowed(at, "US-NC", "America/New_York", do_not_contact=False)


def test_contact_late_evening_rejected() -> None:
    at = datetime(2026, 6, 2, 2, tzinfo=UTC)  # 22:00 in New York
    with pytest.raises(SalesRuleError, match="16 CFR 310.4"):
        check_contact_allowed(at, "US-NC", "America/New_York", do_not_contact=False)


def test_contact_sunday_australia_rejected() -> None:
    at = datetime(2026, 6, 7, 1, tzinfo=UTC)  # Sunday 11:00 in Sydney
    with pytest.raises(SalesRuleError, match="no contact"):
        check_contact_allowed(at, "AU-NSW", "Australia/Sydney", do_not_contact=False)


def test_do_not_contact_rejected() -> None:
    with pytest.raises(SalesRuleError, match="not to be contacted"):
        check_contact_allowed(NOW, "US-NC", "America/New_York", do_not_contact=True)
