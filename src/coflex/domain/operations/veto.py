"""The pre-command veto: the last health-and-safety check before a command is sent.

Planning already keeps every device inside its limits. The veto checks each
command again against the policy and the device's latest telemetry, because
conditions change between planning and dispatch. A vetoed command is not
sent, and the veto is recorded with its rule.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from coflex.domain.fleet import DeviceKind
from coflex.domain.programs import HealthSafetyLimits

POLICY_VERSION = "hs-2026.1"
# Telemetry older than this is stale; a vulnerable site with stale telemetry is
# not dispatched (fail safe). 15 minutes is three missed 5-minute reports.
TELEMETRY_STALE_S = 900


@dataclass(frozen=True)
class CommandCheck:
    """The facts about one proposed curtailment that the veto checks."""

    kind: DeviceKind
    value: float  # the command value in the device's unit
    limits: HealthSafetyLimits
    vulnerable: bool
    protected: bool
    cooling: bool
    telemetry_age_s: float
    indoor_temp_c: float = float("nan")
    battery_soc_fraction: float = float("nan")
    tank_temp_c: float = float("nan")
    # Eligibility already holds batteries under the NWS storm alerts known at
    # planning time. NOTE: the runner reads no alerts during an event, so this
    # flag acts only when a caller passes a forecast.
    storm_forecast: bool = False


@dataclass(frozen=True)
class Veto:
    rule: str
    detail: str


def check_command(check: CommandCheck) -> Veto | None:
    """Return the first rule the command breaks, or None if it may be sent."""
    if check.vulnerable and not check.telemetry_age_s <= TELEMETRY_STALE_S:
        return Veto(
            "stale_telemetry_vulnerable",
            f"telemetry is {check.telemetry_age_s:.0f} s old at a site with "
            f"vulnerable occupants (limit {TELEMETRY_STALE_S} s)",
        )
    if check.kind is DeviceKind.HVAC:
        return _check_hvac(check)
    if check.kind is DeviceKind.BATTERY:
        return _check_battery(check)
    if check.kind is DeviceKind.WATER_HEATER:
        limit = check.limits.water_heater_min_c
        if not check.tank_temp_c > limit:
            return Veto(
                "tank_below_minimum",
                f"tank at {check.tank_temp_c:.1f} °C, minimum {limit:.1f} °C",
            )
    return None


def _check_hvac(check: CommandCheck) -> Veto | None:
    limits = check.limits
    if check.protected:
        return Veto("protected_occupant", "HVAC at a site with medical equipment")
    max_offset = limits.max_offset_for(check.vulnerable)
    if check.value > max_offset + 1e-9:
        return Veto(
            "setpoint_offset_above_maximum",
            f"offset {check.value:.2f} °C above the {max_offset:.2f} °C maximum",
        )
    if check.cooling:
        ceiling = limits.indoor_max_for(check.vulnerable)
        if not check.indoor_temp_c < ceiling:
            return Veto(
                "indoor_temperature_at_limit",
                f"indoor {check.indoor_temp_c:.1f} °C, ceiling {ceiling:.1f} °C",
            )
    else:
        floor = limits.indoor_min_for(check.vulnerable)
        if not check.indoor_temp_c > floor:
            return Veto(
                "indoor_temperature_at_limit",
                f"indoor {check.indoor_temp_c:.1f} °C, floor {floor:.1f} °C",
            )
    return None


def _check_battery(check: CommandCheck) -> Veto | None:
    if check.storm_forecast:
        # Mass Save ConnectedSolutions: no dispatch before forecast severe storms,
        # so the battery is full when an outage is likely.
        return Veto("storm_hold", "a severe storm is forecast: the battery stays full")
    reserve = check.limits.battery_reserve_fraction
    if not check.battery_soc_fraction > reserve:
        return Veto(
            "battery_at_reserve",
            f"state of charge {check.battery_soc_fraction:.0%}, reserve {reserve:.0%}",
        )
    return None


def finite_or_nan(values: np.ndarray, index: int) -> float:
    value = float(values[index])
    return value if np.isfinite(value) else float("nan")
