"""Eligibility rules: every excluded site gets the reason the Code requires."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from coflex.domain.fleet import DeviceKind, ExclusionReason, HvacMode
from coflex.domain.operations.eligibility import SiteStanding, decide_device, decide_site
from coflex.domain.programs import ProgramTerms

START = datetime(2026, 7, 21, 19, 0, tzinfo=UTC)
END = START + timedelta(hours=3)
TERMS = ProgramTerms()


def standing(**changes: object) -> SiteStanding:
    base = SiteStanding(
        site_id=1,
        contract_status="active",
        cooling_off_ends_at=START - timedelta(days=30),
        consent_valid=True,
        events_this_season=0,
        hours_this_season=0.0,
        terms=TERMS,
        earliest_notice_delivery_at=START - timedelta(hours=3),
        medical_equipment=False,
        vulnerable_occupants=False,
        forecast_heat_index_max_c=33.0,
        forecast_temp_min_c=20.0,
    )
    return replace(base, **changes)


def test_active_site_is_eligible() -> None:
    decision = decide_site(standing(), START, END)
    assert decision.eligible
    assert decision.reason is None


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"contract_status": "terminated"}, ExclusionReason.NO_ACTIVE_CONTRACT),
        ({"contract_status": None}, ExclusionReason.NO_ACTIVE_CONTRACT),
        ({"contract_status": "cooling_off"}, ExclusionReason.COOLING_OFF),
        ({"cooling_off_ends_at": START + timedelta(hours=1)}, ExclusionReason.COOLING_OFF),
        ({"consent_valid": False}, ExclusionReason.NO_CONSENT),
        ({"dual_enrollment": "flag 3: service point 12 at GridCo"}, ExclusionReason.DUAL_ENROLLMENT),
        ({"events_this_season": TERMS.max_events_per_season}, ExclusionReason.EVENT_CAP_REACHED),
        ({"hours_this_season": TERMS.max_hours_per_season - 1.0}, ExclusionReason.EVENT_CAP_REACHED),
        ({"earliest_notice_delivery_at": None}, ExclusionReason.NOTICE_NOT_DELIVERABLE),
        (
            {"earliest_notice_delivery_at": START - timedelta(hours=2) + timedelta(seconds=1)},
            ExclusionReason.NOTICE_NOT_DELIVERABLE,
        ),
        (
            {"vulnerable_occupants": True, "forecast_heat_index_max_c": 39.5},
            ExclusionReason.HEAT_CONDITION,
        ),
        (
            {"vulnerable_occupants": True, "forecast_temp_min_c": -12.0},
            ExclusionReason.COLD_CONDITION,
        ),
    ],
)
def test_site_exclusion_reasons(changes: dict, reason: ExclusionReason) -> None:
    decision = decide_site(standing(**changes), START, END)
    assert not decision.eligible
    assert decision.reason is reason
    assert decision.detail


def test_notice_exactly_at_lead_time_is_enough() -> None:
    at_limit = START - timedelta(seconds=TERMS.min_notice_s)
    assert decide_site(standing(earliest_notice_delivery_at=at_limit), START, END).eligible


def test_contract_checked_before_consent() -> None:
    decision = decide_site(
        standing(contract_status="terminated", consent_valid=False), START, END
    )
    assert decision.reason is ExclusionReason.NO_ACTIVE_CONTRACT


def test_stricter_contract_cap_applies() -> None:
    strict = replace(TERMS, max_events_per_season=2)
    decision = decide_site(standing(terms=strict, events_this_season=2), START, END)
    assert decision.reason is ExclusionReason.EVENT_CAP_REACHED


def test_protected_occupant_keeps_hvac() -> None:
    site = standing(medical_equipment=True)
    hvac = decide_device(7, DeviceKind.HVAC, HvacMode.COOLING, site)
    battery = decide_device(8, DeviceKind.BATTERY, None, site)
    assert hvac.reason is ExclusionReason.PROTECTED_OCCUPANT
    assert battery.eligible


def test_extreme_heat_suspends_cooling() -> None:
    site = standing(forecast_heat_index_max_c=TERMS.limits.heat_index_suspend_c)
    decision = decide_device(7, DeviceKind.HVAC, HvacMode.COOLING, site)
    assert decision.reason is ExclusionReason.HEAT_CONDITION


def test_extreme_cold_suspends_heating() -> None:
    site = standing(forecast_temp_min_c=TERMS.limits.cold_suspend_c)
    decision = decide_device(7, DeviceKind.HVAC, HvacMode.HEATING, site)
    assert decision.reason is ExclusionReason.COLD_CONDITION


def test_heat_does_not_stop_water_heater() -> None:
    site = standing(forecast_heat_index_max_c=45.0)
    assert decide_device(9, DeviceKind.WATER_HEATER, None, site).eligible


def test_day_ahead_notice_after_cutoff_excluded() -> None:
    from coflex.domain.programs import EventClass

    day_ahead = replace(TERMS, event_class=EventClass.DAY_AHEAD)
    # START is 15:00 EDT on 21 July; the cut-off is 14:00 EDT on 20 July.
    late = datetime(2026, 7, 20, 18, 30, tzinfo=UTC)
    in_time = datetime(2026, 7, 20, 17, 30, tzinfo=UTC)
    site = standing(terms=day_ahead, timezone="America/New_York")
    refused = decide_site(replace(site, earliest_notice_delivery_at=late), START, END)
    accepted = decide_site(replace(site, earliest_notice_delivery_at=in_time), START, END)
    assert refused.reason is ExclusionReason.NOTICE_NOT_DELIVERABLE
    assert accepted.eligible


def test_emergency_needs_no_advance_notice() -> None:
    from coflex.domain.programs import EventClass

    emergency = replace(TERMS, event_class=EventClass.EMERGENCY, min_notice_s=0)
    decision = decide_site(
        standing(terms=emergency, earliest_notice_delivery_at=None), START, END
    )
    assert decision.eligible
