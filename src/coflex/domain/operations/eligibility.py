"""Which sites and devices may take part in an event, and why not.

Every site gets a decision with a reason, so that the event report and a
regulator can see why each excluded site was left out. The checks run in the
order of the Code of Conduct: contract, consent, caps, notice, then the
health-and-safety rules per device.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from coflex.domain.fleet import DeviceKind, ExclusionReason, HvacMode
from coflex.domain.operations.notice import notice_deadline
from coflex.domain.operations.weather_alerts import Hazard, Level, SiteAlert
from coflex.domain.programs import ProgramTerms


@dataclass(frozen=True)
class SiteStanding:
    """The facts about one site that the eligibility rules check at decision time."""

    site_id: int
    contract_status: str | None  # "active", "terminated", ... or None
    cooling_off_ends_at: datetime | None
    consent_valid: bool
    events_this_season: int
    hours_this_season: float
    terms: ProgramTerms  # the contract's terms: the program's, possibly stricter
    earliest_notice_delivery_at: datetime | None  # None: no channel can reach them
    medical_equipment: bool
    vulnerable_occupants: bool
    forecast_heat_index_max_c: float
    forecast_temp_min_c: float
    timezone: str = "UTC"  # the site's IANA zone, for local notice cut-offs
    weather_alerts: tuple[SiteAlert, ...] = ()  # official alerts over the site
    dual_enrollment: str | None = None  # an open flag: enrolled with another provider


def _alert(standing: SiteStanding, hazard: Hazard, *levels: Level) -> SiteAlert | None:
    for alert in standing.weather_alerts:
        if alert.hazard is hazard and (not levels or alert.level in levels):
            return alert
    return None


@dataclass(frozen=True)
class SiteDecision:
    site_id: int
    eligible: bool
    reason: ExclusionReason | None
    detail: str


@dataclass(frozen=True)
class DeviceDecision:
    device_id: int
    eligible: bool
    reason: ExclusionReason | None
    detail: str


def decide_site(standing: SiteStanding, start: datetime, end: datetime) -> SiteDecision:
    """Decide whether a site may take part in an event over ``[start, end)``."""
    terms = standing.terms
    event_hours = (end - start).total_seconds() / 3600

    def excluded(reason: ExclusionReason, detail: str) -> SiteDecision:
        return SiteDecision(standing.site_id, False, reason, detail)

    if standing.contract_status == "cooling_off":
        ends = standing.cooling_off_ends_at
        return excluded(
            ExclusionReason.COOLING_OFF,
            f"cooling-off period ends {ends.isoformat() if ends else 'unknown'}",
        )
    if standing.contract_status != "active":
        return excluded(
            ExclusionReason.NO_ACTIVE_CONTRACT,
            f"contract status is {standing.contract_status or 'missing'}",
        )
    if standing.cooling_off_ends_at is None or standing.cooling_off_ends_at > start:
        ends = standing.cooling_off_ends_at
        return excluded(
            ExclusionReason.COOLING_OFF,
            f"cooling-off period ends {ends.isoformat() if ends else 'unknown'}",
        )
    if not standing.consent_valid:
        return excluded(ExclusionReason.NO_CONSENT, "no valid consent to control")
    if standing.dual_enrollment is not None:
        return excluded(
            ExclusionReason.DUAL_ENROLLMENT,
            f"enrolled with another provider for the same service ({standing.dual_enrollment})",
        )
    if standing.events_this_season >= terms.max_events_per_season:
        return excluded(
            ExclusionReason.EVENT_CAP_REACHED,
            f"{standing.events_this_season} of {terms.max_events_per_season} "
            "events this season used",
        )
    if standing.hours_this_season + event_hours > terms.max_hours_per_season:
        return excluded(
            ExclusionReason.EVENT_CAP_REACHED,
            f"{standing.hours_this_season:.1f} h used, {event_hours:.1f} h more "
            f"would pass the {terms.max_hours_per_season:.0f} h season cap",
        )
    return _decide_notice_and_weather(standing, start)


def _decide_notice_and_weather(standing: SiteStanding, start: datetime) -> SiteDecision:
    terms = standing.terms
    limits = terms.limits
    deadline = notice_deadline(
        terms.event_class, start, standing.timezone, terms.min_notice_s
    )
    delivery = standing.earliest_notice_delivery_at
    if deadline is not None and (delivery is None or delivery > deadline):
        return SiteDecision(
            standing.site_id,
            False,
            ExclusionReason.NOTICE_NOT_DELIVERABLE,
            f"no channel delivers a notice by {deadline.isoformat()}",
        )
    heat_index = standing.forecast_heat_index_max_c
    if standing.vulnerable_occupants and heat_index >= (
        limits.heat_index_vulnerable_exclusion_c
    ):
        return SiteDecision(
            standing.site_id,
            False,
            ExclusionReason.HEAT_CONDITION,
            f"forecast heat index {heat_index:.1f} °C with vulnerable occupants "
            f"(limit {limits.heat_index_vulnerable_exclusion_c:.1f} °C)",
        )
    if standing.vulnerable_occupants and (
        alert := _alert(standing, Hazard.HEAT)
    ):
        # An official heat alert of any level: the advisory level is the one at
        # which the heat-index rule above excludes vulnerable occupants.
        return SiteDecision(
            standing.site_id,
            False,
            ExclusionReason.HEAT_CONDITION,
            f"{alert.describe()}, with vulnerable occupants",
        )
    if standing.vulnerable_occupants and standing.forecast_temp_min_c <= (
        limits.cold_vulnerable_exclusion_c
    ):
        return SiteDecision(
            standing.site_id,
            False,
            ExclusionReason.COLD_CONDITION,
            f"forecast minimum {standing.forecast_temp_min_c:.1f} °C with "
            "vulnerable occupants",
        )
    if standing.vulnerable_occupants and (alert := _alert(standing, Hazard.COLD)):
        return SiteDecision(
            standing.site_id,
            False,
            ExclusionReason.COLD_CONDITION,
            f"{alert.describe()}, with vulnerable occupants",
        )
    return SiteDecision(standing.site_id, True, None, "eligible")


def decide_device(
    device_id: int,
    kind: DeviceKind,
    hvac_mode: HvacMode | None,
    standing: SiteStanding,
) -> DeviceDecision:
    """Apply the per-device health-and-safety rules to a device of an eligible site.

    HVAC at a site with medical or life-support equipment is never curtailed
    (SCE Smart Energy Program excludes Medical Baseline A/C customers), and
    HVAC curtailment is suspended altogether when the forecast heat index
    reaches the Extreme Heat Warning level, or the forecast cold reaches the
    Extreme Cold Warning level, and when the NWS has issued such a warning over
    the site. A battery is held full under a severe-storm alert.
    """
    limits = standing.terms.limits
    if kind is DeviceKind.BATTERY and (alert := _alert(standing, Hazard.STORM)):
        # Mass Save ConnectedSolutions: no battery dispatch before a forecast
        # severe storm, so the battery is full when an outage is likely.
        return DeviceDecision(
            device_id,
            False,
            ExclusionReason.STORM_HOLD,
            f"{alert.describe()}: the battery stays full",
        )
    if kind is not DeviceKind.HVAC:
        return DeviceDecision(device_id, True, None, "eligible")
    if standing.medical_equipment:
        return DeviceDecision(
            device_id,
            False,
            ExclusionReason.PROTECTED_OCCUPANT,
            "medical or life-support equipment on site: HVAC is never curtailed",
        )
    heat_index = standing.forecast_heat_index_max_c
    if hvac_mode is HvacMode.COOLING and heat_index >= limits.heat_index_suspend_c:
        return DeviceDecision(
            device_id,
            False,
            ExclusionReason.HEAT_CONDITION,
            f"forecast heat index {heat_index:.1f} °C reaches the "
            f"{limits.heat_index_suspend_c:.1f} °C suspension level",
        )
    warning = _alert(standing, Hazard.HEAT, Level.WARNING)
    if hvac_mode is HvacMode.COOLING and warning:
        return DeviceDecision(
            device_id,
            False,
            ExclusionReason.HEAT_CONDITION,
            f"{warning.describe()}: cooling is not curtailed",
        )
    cold = standing.forecast_temp_min_c
    warning = _alert(standing, Hazard.COLD, Level.WARNING)
    if hvac_mode is HvacMode.HEATING and warning:
        return DeviceDecision(
            device_id,
            False,
            ExclusionReason.COLD_CONDITION,
            f"{warning.describe()}: heating is not curtailed",
        )
    if hvac_mode is HvacMode.HEATING and cold <= limits.cold_suspend_c:
        return DeviceDecision(
            device_id,
            False,
            ExclusionReason.COLD_CONDITION,
            f"forecast minimum {cold:.1f} °C reaches the {limits.cold_suspend_c:.1f}"
            " °C suspension level",
        )
    return DeviceDecision(device_id, True, None, "eligible")
