"""The "typical customer" claim, computed from the stored settlements.

A typical-customer figure is the median of each customer's total settled
payment over the 12 months that end on the claim's as-of date, over at least
30 customers. The claim registered from it states the figure, how many
customers it was computed from, the window, and the method, so that every
material that uses it states them.

Functions take the caller's session; run them inside
:func:`coflex.adapters.store.database.transaction`, so a rejected action
stores nothing.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from coflex.adapters.store.models import Event, Settlement
from coflex.domain.enrollment.claims import (
    TYPICAL_MIN_CUSTOMERS,
    TYPICAL_WINDOW_DAYS,
    ClaimKind,
    TypicalFigure,
    typical_customer_figure,
)
from coflex.services.claims import register_claim


def settled_customer_totals(
    session: Session,
    window_end: date,
    currency: str,
    program_id: int | None = None,
) -> np.ndarray:
    """Return each customer's total settled payment in the 12 months to ``window_end``.

    An event counts when it starts within the window, whose days are UTC
    days. Only settlements in ``currency`` are summed. Customers without a
    settled event in the window are not in the result.
    """
    start_day = window_end - timedelta(days=TYPICAL_WINDOW_DAYS - 1)
    start = datetime.combine(start_day, time(), UTC)
    end = datetime.combine(window_end + timedelta(days=1), time(), UTC)
    query = (
        select(func.sum(Settlement.payment))
        .join(Event, Event.id == Settlement.event_id)
        .where(
            Event.start >= start,
            Event.start < end,
            Settlement.currency == currency,
        )
        .group_by(Settlement.customer_id)
    )
    if program_id is not None:
        query = query.where(Event.program_id == program_id)
    return np.array([float(total) for total in session.scalars(query)], dtype=float)


def typical_figure(
    session: Session,
    window_end: date,
    currency: str,
    program_id: int | None = None,
) -> TypicalFigure:
    """Compute the typical-customer figure from the stored settlements.

    Raises
    ------
    ClaimError
        If fewer than 30 customers were settled in the window.
    """
    totals = settled_customer_totals(session, window_end, currency, program_id)
    return typical_customer_figure(totals, window_end)


def register_typical_claim(
    session: Session,
    *,
    statement: str,
    as_of: date,
    at: datetime,
    currency: str = "USD",
    kind: ClaimKind = ClaimKind.INCOME,
    risk_statement: str | None = None,
    program_id: int | None = None,
) -> int:
    """Register a claim whose value is the typical-customer figure; return its id.

    The stored statement ends with the figure's disclosure (median, number
    of customers, window), and the method, source and population state how and
    from what it was computed. The claim is unreviewed, like any other.

    Raises
    ------
    ClaimError
        If fewer than 30 customers were settled in the 12 months to ``as_of``.
    """
    figure = typical_figure(session, as_of, currency, program_id)
    unit = f"{currency}/customer/year"
    scope = f" in program {program_id}" if program_id is not None else ""
    window = f"{figure.window_start.isoformat()} to {figure.window_end.isoformat()}"
    return register_claim(
        session,
        statement=f"{statement.strip()} {figure.disclosure(currency)}",
        kind=kind,
        value=round(figure.median, 2),
        unit=unit,
        source=f"coflex settlements table: events{scope} starting {window} (UTC)",
        method=(
            "median over customers of each customer's total settled payment "
            f"in the 12 months to {as_of.isoformat()}, computed when at least "
            f"{TYPICAL_MIN_CUSTOMERS} customers were settled"
        ),
        assumptions=(
            f"payments as settled in {currency}; customers without a settled "
            "event in the window are not counted"
        ),
        population=(
            f"the {figure.customers} customers{scope} with a settled event "
            f"from {window}"
        ),
        as_of=as_of,
        at=at,
        risk_statement=risk_statement,
    )
