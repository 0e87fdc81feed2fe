"""Sales behaviour: who may sell, whom they may contact, and when.

Representatives of the aggregator and of third parties selling on its behalf
follow the same rules, because the aggregator answers for both.

References
----------
DOE DER Aggregator Code of Conduct (November 2023), B. Consumer Enrollment,
Sales Behavior: sales staff properly trained; the aggregator responsible for
its employees and for third parties contracted to sell on its behalf.
FTC Telemarketing Sales Rule, 16 CFR 310.4(c): no calls before 8 a.m. or
after 9 p.m. at the called person's location.
Australian Consumer Law s73: unsolicited visits only 9 a.m. to 6 p.m. on
weekdays and 9 a.m. to 5 p.m. on Saturdays, never on Sundays or public holidays.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time
from zoneinfo import ZoneInfo

import holidays

from coflex.errors import SalesRuleError

CHANNELS = ("door_to_door", "phone", "web", "event", "mail")


@dataclass(frozen=True)
class Training:
    course: str
    completed_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class Representative:
    id: int
    name: str
    employer: str
    third_party: bool
    trainings: tuple[Training, ...] = ()


@dataclass(frozen=True)
class ContactHours:
    """Local hours in which unsolicited contact is allowed, per weekday.

    ``windows[d]`` is the (start, end) for weekday ``d`` (Monday is 0), or None
    when no contact is allowed that day.
    """

    windows: tuple[tuple[time, time] | None, ...]
    no_public_holidays: bool
    source: str


US_HOURS = ContactHours(
    windows=((time(8), time(21)),) * 7,
    no_public_holidays=False,
    source="FTC Telemarketing Sales Rule, 16 CFR 310.4(c)",
)
AU_HOURS = ContactHours(
    windows=((time(9), time(18)),) * 5 + ((time(9), time(17)), None),
    no_public_holidays=True,
    source="Australian Consumer Law s73",
)
HOURS_BY_COUNTRY = {"US": US_HOURS, "AU": AU_HOURS}


def check_trained(rep: Representative, at: datetime) -> None:
    """Raise unless ``rep`` holds a training that is current at ``at``.

    Raises
    ------
    SalesRuleError
        If the representative has no training, or all have expired.
    """
    current = [t for t in rep.trainings if t.completed_at <= at < t.expires_at]
    if current:
        return
    if rep.trainings:
        last = max(t.expires_at for t in rep.trainings)
        detail = f"their training expired {last.isoformat()}"
    else:
        detail = "they have no training record"
    raise SalesRuleError(
        f"representative {rep.id} ({rep.name}, {rep.employer}) cannot record a "
        f"sale: {detail}; record a completed training first",
        value=rep.id,
        field="representative",
    )


def check_contact_allowed(
    at: datetime, jurisdiction: str, timezone: str, do_not_contact: bool
) -> None:
    """Raise if contacting a customer at ``at`` breaks a flag or the local hours.

    Raises
    ------
    SalesRuleError
        If the customer asked not to be contacted, or ``at`` falls outside the
        jurisdiction's permitted hours or on a day without contact.
    """
    if do_not_contact:
        raise SalesRuleError(
            "the customer asked not to be contacted: leave them off every "
            "call list and visit route",
            field="do_not_contact",
        )
    country, _, subdivision = jurisdiction.partition("-")
    hours = HOURS_BY_COUNTRY.get(country, US_HOURS)
    local = at.astimezone(ZoneInfo(timezone))
    window = hours.windows[local.weekday()]
    if hours.no_public_holidays and local.date() in holidays.country_holidays(
        country, subdiv=subdivision or None, years=local.year
    ):
        window = None
    if window is None or not window[0] <= local.time() < window[1]:
        allowed = f"{window[0]:%H:%M} to {window[1]:%H:%M}" if window else "no contact"
        raise SalesRuleError(
            f"contact at {local:%A %Y-%m-%d %H:%M} local time is outside the "
            f"permitted hours ({allowed} that day, {hours.source}): "
            "contact the customer within them",
            value=local.isoformat(),
            field="at",
        )
