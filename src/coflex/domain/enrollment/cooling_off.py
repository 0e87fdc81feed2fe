"""How long a customer may cancel at no cost: the longest period that applies.

Every rule that applies in a jurisdiction gives an end time; the latest wins,
and coflex never grants less than its own 14-day floor. A period counted in
days ends at local midnight after its last day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

DEFAULT_DAYS = 14


@dataclass(frozen=True)
class CoolingOffRule:
    """A cancellation period from one law or program.

    Attributes
    ----------
    scope : str
        ``"*"`` for every jurisdiction, a country code (``"US"``) or a
        country and subdivision (``"US-OH"``).
    days : int
        Length of the period [days of the kind counted].
    excluded_weekdays : tuple[int, ...]
        Weekdays not counted (Monday is 0); with ``skip_holidays`` set, public
        holidays are not counted either. Empty for calendar days.
    source : str
        The law or rule, by name.
    """

    scope: str
    days: int
    excluded_weekdays: tuple[int, ...] = ()
    skip_holidays: bool = False
    source: str = ""


RULES: tuple[CoolingOffRule, ...] = (
    CoolingOffRule("*", DEFAULT_DAYS, source="coflex default floor of 14 days"),
    # 16 CFR 429.0: a business day is any day but Sunday and federal holidays.
    CoolingOffRule(
        "US", 3, (6,), True, "FTC Cooling-Off Rule, 16 CFR 429 (off-premises sales)"
    ),
    CoolingOffRule("US-OH", 7, source="Ohio Adm. Code 4901:1-21-06"),
    CoolingOffRule(
        "AU",
        10,
        (5, 6),
        True,
        "Australian Consumer Law s82 (unsolicited consumer agreements)",
    ),
    CoolingOffRule("GB", 14, source="Consumer Contracts Regulations 2013"),
    CoolingOffRule("EU", 14, source="Directive 2011/83/EU Art 9"),
)


EU_MEMBERS = frozenset(
    "AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES "
    "SE".split()
)


def applicable_rules(jurisdiction: str) -> list[CoolingOffRule]:
    """Return the rules for a jurisdiction such as ``"US-NC"`` or ``"GB"``."""
    country = jurisdiction.split("-", 1)[0]
    return [
        rule
        for rule in RULES
        if rule.scope in ("*", country, jurisdiction)
        or (rule.scope == "EU" and country in EU_MEMBERS)
    ]


@lru_cache(maxsize=64)
def _holidays(jurisdiction: str, year: int) -> holidays.HolidayBase:
    """Return the public holidays of ``year`` and the next, for counting days."""
    country, _, subdivision = jurisdiction.partition("-")
    return holidays.country_holidays(
        country, subdiv=subdivision or None, years=range(year, year + 2)
    )


def _counted_end(rule: CoolingOffRule, start_day: date, jurisdiction: str) -> date:
    """Return the last local day of the period that starts after ``start_day``."""
    if not rule.excluded_weekdays and not rule.skip_holidays:
        return start_day + timedelta(days=rule.days)
    calendar = _holidays(jurisdiction, start_day.year)
    day, counted = start_day, 0
    while counted < rule.days:
        day += timedelta(days=1)
        if day.weekday() in rule.excluded_weekdays:
            continue
        if rule.skip_holidays and day in calendar:
            continue
        counted += 1
    return day


def cooling_off_end(
    accepted_at: datetime, jurisdiction: str, timezone: str
) -> tuple[datetime, CoolingOffRule]:
    """Return when the cooling-off period ends and the rule that set it.

    Parameters
    ----------
    accepted_at : datetime
        When the customer accepted (timezone-aware).
    jurisdiction : str
        ISO 3166 country code, optionally with its subdivision (``"US-NC"``).
    timezone : str
        IANA timezone of the customer's site; days are counted in local time.

    Returns
    -------
    tuple[datetime, CoolingOffRule]
        The end (local midnight after the last day, timezone-aware) and the
        rule that gave the latest end.
    """
    start_day = accepted_at.astimezone(ZoneInfo(timezone)).date()
    return _end_after(start_day, jurisdiction, timezone)


@lru_cache(maxsize=4096)
def _end_after(
    start_day: date, jurisdiction: str, timezone: str
) -> tuple[datetime, CoolingOffRule]:
    zone = ZoneInfo(timezone)
    best: tuple[datetime, CoolingOffRule] | None = None
    for rule in applicable_rules(jurisdiction):
        last_day = _counted_end(rule, start_day, jurisdiction)
        end = datetime.combine(last_day + timedelta(days=1), time(), zone)
        if best is None or end > best[0]:
            best = (end, rule)
    assert best is not None  # the "*" rule always applies
    return best
