"""How long a customer's records are kept.

Default: the longest of the jurisdiction's minimum, the end of the contract
plus 2 years, and 6 years from the first record. Texas 16 TAC 25.491 requires
2 years and Virginia 20VAC5-342-90 requires 3 years. The 6-year floor echoes
the UK's 6-year limitation period for contract claims. Records of a customer
whose contract still runs are kept.
"""

from __future__ import annotations

from datetime import datetime

CONTRACT_TAIL_YEARS = 2
FLOOR_YEARS = 6


def add_years(at: datetime, years: int) -> datetime:
    """Move ``at`` by whole calendar years; 29 February becomes 28 February."""
    try:
        return at.replace(year=at.year + years)
    except ValueError:
        return at.replace(year=at.year + years, day=28)


def retain_until(
    first_record_at: datetime,
    contract_ended_at: datetime | None,
    jurisdiction_min_years: int,
) -> datetime | None:
    """Return when a customer's records may be purged; None while a contract runs."""
    if contract_ended_at is None:
        return None
    return max(
        add_years(first_record_at, jurisdiction_min_years),
        add_years(contract_ended_at, CONTRACT_TAIL_YEARS),
        add_years(first_record_at, FLOOR_YEARS),
    )
