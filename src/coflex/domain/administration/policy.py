"""Per-jurisdiction administrative policy: complaint timers, the regulator, records.

Defaults, each configurable per jurisdiction:

- acknowledge a complaint within 2 business days (a proposed default);
- respond within 20 business days (the Western Australia ERA customer code:
  acknowledge within 10, respond within 20 business days);
- the customer may take the complaint to the regulator 8 weeks after it was
  received, or at once on deadlock, whichever comes first (the UK Energy
  Ombudsman rule); New York sends customers to the Department of Public Service
  after 2 weeks without a response;
- keep records for at least the jurisdiction's minimum (Texas 16 TAC 25.491:
  2 years; Virginia 20VAC5-342-90: 3 years).

Business days skip weekends and the public holidays that the ``holidays``
package lists for the jurisdiction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from coflex.errors import InputError


@dataclass(frozen=True)
class JurisdictionPolicy:
    """Complaint timers, the regulator and the record minimum of one jurisdiction."""

    jurisdiction: str
    timezone: str
    holiday_country: str
    holiday_subdivision: str | None
    regulator: str
    regulator_contact: str
    acknowledge_business_days: int = 2
    respond_business_days: int = 20
    escalation_after: timedelta = timedelta(weeks=8)
    reminder_before: timedelta = timedelta(days=1)
    record_min_years: int = 0

    def to_json(self) -> dict[str, object]:
        return {
            "jurisdiction": self.jurisdiction,
            "timezone": self.timezone,
            "holidays": [self.holiday_country, self.holiday_subdivision],
            "regulator": self.regulator,
            "regulator_contact": self.regulator_contact,
            "acknowledge_business_days": self.acknowledge_business_days,
            "respond_business_days": self.respond_business_days,
            "escalation_after_days": self.escalation_after.days,
            "reminder_before_hours": self.reminder_before.total_seconds() / 3600,
            "record_min_years": self.record_min_years,
        }


POLICIES: dict[str, JurisdictionPolicy] = {
    "US-NC": JurisdictionPolicy(
        jurisdiction="US-NC",
        timezone="America/New_York",
        holiday_country="US",
        holiday_subdivision="NC",
        regulator="the North Carolina Utilities Commission, Public Staff "
        "Consumer Services",
        regulator_contact="www.ncuc.gov",
    ),
    "US-NY": JurisdictionPolicy(
        jurisdiction="US-NY",
        timezone="America/New_York",
        holiday_country="US",
        holiday_subdivision="NY",
        regulator="the New York State Department of Public Service",
        regulator_contact="dps.ny.gov",
        escalation_after=timedelta(weeks=2),
    ),
    "US-TX": JurisdictionPolicy(
        jurisdiction="US-TX",
        timezone="America/Chicago",
        holiday_country="US",
        holiday_subdivision="TX",
        regulator="the Public Utility Commission of Texas, Customer Protection "
        "Division",
        regulator_contact="www.puc.texas.gov",
        record_min_years=2,
    ),
    "GB": JurisdictionPolicy(
        jurisdiction="GB",
        timezone="Europe/London",
        holiday_country="GB",
        holiday_subdivision="ENG",
        regulator="the Energy Ombudsman",
        regulator_contact="www.energyombudsman.org",
    ),
}


def policy_for(jurisdiction: str) -> JurisdictionPolicy:
    """Return the policy of ``jurisdiction``.

    Raises
    ------
    InputError
        If no policy is configured for it.
    """
    try:
        return POLICIES[jurisdiction]
    except KeyError:
        raise InputError(
            f"no administrative policy for jurisdiction {jurisdiction!r}: "
            f"configure one or use one of {', '.join(sorted(POLICIES))}",
            value=jurisdiction,
            field="jurisdiction",
        ) from None
