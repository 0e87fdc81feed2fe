"""Fleet vocabulary: device kinds and the occupant flags that change the rules."""

from __future__ import annotations

from enum import StrEnum


class DeviceKind(StrEnum):
    """A controllable household device behind a site's meter."""

    HVAC = "hvac"  # central air conditioning or a heat pump behind a smart thermostat
    BATTERY = "battery"
    EV_CHARGER = "ev_charger"
    WATER_HEATER = "water_heater"


class HvacMode(StrEnum):
    COOLING = "cooling"
    HEATING = "heating"


class ExclusionReason(StrEnum):
    """Why a site or device was left out of an event; every exclusion records one."""

    NO_ACTIVE_CONTRACT = "no_active_contract"
    COOLING_OFF = "cooling_off_not_over"
    NO_CONSENT = "no_valid_consent"
    EVENT_CAP_REACHED = "event_cap_reached"
    NOTICE_NOT_DELIVERABLE = "notice_cannot_be_delivered_in_time"
    PROTECTED_OCCUPANT = "protected_occupant"
    HEAT_CONDITION = "forecast_heat_condition"
    COLD_CONDITION = "forecast_cold_condition"
    STORM_HOLD = "forecast_severe_storm"
    NO_FLEXIBILITY = "no_flexibility_within_limits"
    NOTICE_LATE = "notice_delivered_late"
    DUAL_ENROLLMENT = "dual_enrollment"
    CHANGE_NOTICE_LATE = "change_notice_not_delivered_in_time"
    EMERGENCY_NOTICE_MISSED = "emergency_notice_not_delivered"
    OPTED_OUT = "opted_out"
    LEFT_PROGRAM = "left_program"
