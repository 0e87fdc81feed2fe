"""Season totals: what a program's events created and how it was shared, to date."""

from __future__ import annotations

from collections import defaultdict
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from coflex.adapters.store.models import Event, Program, Settlement

SHARE_KEYS = ("customer", "aggregator", "grid", "society", "total", "avoided_co2_kg")


def season_value(
    session: Session, program_id: int, season_year: int
) -> dict[str, object]:
    """Sum the settled events of a program's season, per share and for each customer.

    The season runs from the program's season start to its season end in
    ``season_year``. Amounts are in the program's currency, CO2 in kg; the
    shares add up to the total because each event's shares do.
    """
    program = session.get(Program, program_id)
    if program is None:
        raise LookupError(f"program {program_id} not found")
    first = date(season_year, program.season_start.month, program.season_start.day)
    last = date(season_year, program.season_end.month, program.season_end.day)
    rows = session.execute(
        select(
            Settlement.customer_id,
            Settlement.delivered_kwh,
            Settlement.shares,
            Event.id,
            Event.start,
        )
        .join(Event, Event.id == Settlement.event_id)
        .where(Event.program_id == program_id)
    ).all()
    totals = dict.fromkeys(SHARE_KEYS, 0.0)
    per_customer: dict[int, dict[str, float]] = defaultdict(
        lambda: {"events": 0, "delivered_kwh": 0.0, "payment": 0.0}
    )
    events: set[int] = set()
    delivered = 0.0
    for customer_id, delivered_kwh, shares, event_id, start in rows:
        if not first <= start.date() <= last:
            continue
        events.add(event_id)
        delivered += delivered_kwh
        for key in SHARE_KEYS:
            totals[key] += float(shares.get(key, 0.0))
        mine = per_customer[customer_id]
        mine["events"] += 1
        mine["delivered_kwh"] += delivered_kwh
        mine["payment"] += float(shares.get("customer", 0.0))
    return {
        "season": f"{first.isoformat()}/{last.isoformat()}",
        "events": len(events),
        "delivered_kwh": delivered,
        **{key: round(value, 2) for key, value in totals.items()},
        "per_customer": dict(per_customer),
    }
