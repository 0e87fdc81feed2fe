"""Itemised quotations whose total is the sum of their lines.

Amounts are :class:`decimal.Decimal` in the currency's minor-unit precision,
so that the total reconciles exactly. Incentives paid to the customer are
negative lines.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

from coflex.errors import QuotationError

MIN_VALIDITY = timedelta(days=30)
CENT = Decimal("0.01")


class LineCategory(StrEnum):
    EQUIPMENT = "equipment"
    INSTALLATION = "installation"
    FEE = "fee"
    TAX = "tax"
    INCENTIVE = "incentive"


@dataclass(frozen=True)
class QuoteLine:
    """One priced item and when it is paid.

    Attributes
    ----------
    amount : Decimal
        Positive when the customer pays, negative when the customer receives
        [currency units].
    payment_timing : str
        When the amount changes hands, e.g. "on signing", "after the first event".
    """

    category: LineCategory
    description: str
    amount: Decimal
    payment_timing: str


@dataclass(frozen=True)
class Quotation:
    lines: tuple[QuoteLine, ...]
    total: Decimal
    currency: str
    issued_at: datetime
    valid_until: datetime

    def to_json(self) -> dict[str, object]:
        return {
            "lines": [
                {
                    "category": line.category.value,
                    "description": line.description,
                    "amount": str(line.amount),
                    "payment_timing": line.payment_timing,
                }
                for line in self.lines
            ],
            "total": str(self.total),
            "currency": self.currency,
            "issued_at": self.issued_at.isoformat(),
            "valid_until": self.valid_until.isoformat(),
        }


def tax_line(
    taxable: Sequence[QuoteLine], rate: Decimal, description: str
) -> QuoteLine:
    """Return the tax on the taxable lines at ``rate`` (a fraction), in cents."""
    base = sum((line.amount for line in taxable), Decimal("0"))
    amount = (base * rate).quantize(CENT, rounding=ROUND_HALF_UP)
    return QuoteLine(LineCategory.TAX, description, amount, "with the taxed items")


def build_quotation(
    lines: Sequence[QuoteLine],
    currency: str,
    issued_at: datetime,
    valid_until: datetime,
    stated_total: Decimal | None = None,
) -> Quotation:
    """Check an itemised quotation and return it with its total.

    Raises
    ------
    QuotationError
        If there are no lines, an amount has more than two decimals, the
        stated total differs from the sum of the lines, or the quotation is
        valid for less than 30 days.
    """
    if not lines:
        raise QuotationError("a quotation needs at least one line", field="lines")
    for line in lines:
        if line.amount != line.amount.quantize(CENT):
            raise QuotationError(
                f"line {line.description!r} amount {line.amount} has more than two "
                "decimals: round it to cents",
                value=str(line.amount),
                field="amount",
            )
    total = sum((line.amount for line in lines), Decimal("0"))
    if stated_total is not None and stated_total != total:
        raise QuotationError(
            f"stated total {stated_total} {currency} differs from the sum of the "
            f"lines, {total} {currency}: correct the lines or the total",
            value=str(stated_total),
            field="total",
        )
    if valid_until - issued_at < MIN_VALIDITY:
        raise QuotationError(
            f"quotation valid until {valid_until.isoformat()} is open for less than "
            f"{MIN_VALIDITY.days} days: give a later validity end",
            value=valid_until.isoformat(),
            field="valid_until",
        )
    return Quotation(tuple(lines), total, currency, issued_at, valid_until)
