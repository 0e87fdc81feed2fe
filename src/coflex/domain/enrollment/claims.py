"""Registered claims and the rules for publishing material that uses them.

Every performance, savings, payback or income claim in advertising or sales
material is a registered claim with its source, method, population, as-of
date, reviewer and expiry. Material is published only while each of its claims
is sourced, reviewed, current and, for money claims, carries a statement of the
risk to the customer's revenue.

References
----------
DOE DER Aggregator Code of Conduct (November 2023), B. Consumer Enrollment,
Advertising and Promotion, items a-d: claims attributed to a source, able to
withstand third-party scrutiny, following accounting best practice, with a
statement of the level of risk to the customer's potential revenue.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

import numpy as np

from coflex.errors import ClaimError

DEFAULT_VALIDITY_DAYS = 365
TYPICAL_MIN_CUSTOMERS = 30
TYPICAL_WINDOW_DAYS = 365


class ClaimKind(StrEnum):
    PERFORMANCE = "performance"
    SAVINGS = "savings"
    PAYBACK = "payback"
    INCOME = "income"


MONEY_KINDS = frozenset({ClaimKind.SAVINGS, ClaimKind.PAYBACK, ClaimKind.INCOME})


@dataclass(frozen=True)
class Claim:
    """One registered claim, as stored.

    Attributes
    ----------
    value, unit : float, str
        The figure and its unit (``"USD/season"``, ``"kWh"``, ``"%"``).
    source : str
        A citation or a dataset reference; empty means unsourced.
    as_of, expires_on : date
        The date the figure describes and the last day it may be used.
    reviewer, reviewed_at : str or None, datetime or None
        Who signed the claim off, and when.
    """

    id: int
    statement: str
    kind: ClaimKind
    value: float
    unit: str
    source: str
    method: str
    assumptions: str
    population: str
    as_of: date
    expires_on: date
    risk_statement: str | None = None
    reviewer: str | None = None
    reviewed_at: datetime | None = None
    withdrawn_at: datetime | None = None


def default_expiry(as_of: date) -> date:
    """Return the default last day of use, 12 months after ``as_of``."""
    return as_of + timedelta(days=DEFAULT_VALIDITY_DAYS)


def claim_problem(claim: Claim, on: date) -> str | None:
    """Return the first rule that keeps ``claim`` out of published material, or None."""
    if not claim.source.strip():
        return f"claim {claim.id} has no source: cite a study or a dataset"
    if not claim.method.strip():
        return f"claim {claim.id} states no method: describe how it was computed"
    if claim.withdrawn_at is not None:
        return f"claim {claim.id} was withdrawn {claim.withdrawn_at.isoformat()}"
    if claim.reviewer is None or claim.reviewed_at is None:
        return f"claim {claim.id} is not reviewed: have a reviewer sign it off"
    if on > claim.expires_on:
        return (
            f"claim {claim.id} expired {claim.expires_on.isoformat()}: "
            "re-substantiate it with a new as-of date"
        )
    if claim.kind in MONEY_KINDS and not (claim.risk_statement or "").strip():
        return (
            f"claim {claim.id} is a {claim.kind.value} claim without a statement "
            "of the risk to the customer's revenue: add one"
        )
    return None


def check_publishable(material_name: str, claims: Sequence[Claim], on: date) -> None:
    """Raise unless every claim that the material uses may be published on ``on``.

    Raises
    ------
    ClaimError
        Naming the material, the claim and the rule it breaks.
    """
    for claim in claims:
        problem = claim_problem(claim, on)
        if problem is not None:
            raise ClaimError(
                f"cannot publish {material_name!r}: {problem}",
                value=claim.id,
                field="claims",
            )


def content_hash(body: str) -> str:
    """Return the SHA-256 of a material version's text."""
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class TypicalFigure:
    """A "typical customer" figure and what it was computed from."""

    median: float
    customers: int
    window_start: date
    window_end: date

    def disclosure(self, unit: str) -> str:
        return (
            f"Typical customer: {self.median:.2f} {unit}, the median of "
            f"{self.customers} customers' settled payments from "
            f"{self.window_start.isoformat()} to {self.window_end.isoformat()}."
        )


def typical_customer_figure(
    customer_totals: np.ndarray, window_end: date
) -> TypicalFigure:
    """Compute a "typical customer" figure from realised settlements.

    Parameters
    ----------
    customer_totals : numpy.ndarray
        Each customer's total settled amount over the 12 months that end on
        ``window_end`` [currency units].
    window_end : date
        Last day of the window.

    Raises
    ------
    ClaimError
        If fewer than 30 customers were settled in the window.
    """
    count = len(customer_totals)
    if count < TYPICAL_MIN_CUSTOMERS:
        raise ClaimError(
            f"a typical-customer figure needs at least {TYPICAL_MIN_CUSTOMERS} "
            f"settled customers in 12 months, found {count}: do not publish one yet",
            value=count,
            field="customers",
        )
    return TypicalFigure(
        median=float(np.median(customer_totals)),
        customers=count,
        window_start=window_end - timedelta(days=TYPICAL_WINDOW_DAYS - 1),
        window_end=window_end,
    )
