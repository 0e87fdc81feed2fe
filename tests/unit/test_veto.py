"""The pre-command veto stops any command that would break the policy."""

from __future__ import annotations

from dataclasses import replace

import pytest

from coflex.domain.fleet import DeviceKind
from coflex.domain.operations.veto import TELEMETRY_STALE_S, CommandCheck, check_command
from coflex.domain.programs import HealthSafetyLimits

LIMITS = HealthSafetyLimits()
HVAC = CommandCheck(
    kind=DeviceKind.HVAC, value=2.0, limits=LIMITS, vulnerable=False, protected=False,
    cooling=True, telemetry_age_s=30.0, indoor_temp_c=25.0,
)
BATTERY = CommandCheck(
    kind=DeviceKind.BATTERY, value=5.0, limits=LIMITS, vulnerable=False,
    protected=False, cooling=False, telemetry_age_s=30.0, battery_soc_fraction=0.8,
)
HEATER = CommandCheck(
    kind=DeviceKind.WATER_HEATER, value=0.0, limits=LIMITS, vulnerable=False,
    protected=False, cooling=False, telemetry_age_s=30.0, tank_temp_c=55.0,
)


@pytest.mark.parametrize("check", [HVAC, BATTERY, HEATER])
def test_safe_command_passes(check: CommandCheck) -> None:
    assert check_command(check) is None


@pytest.mark.parametrize(
    ("check", "rule"),
    [
        (replace(HVAC, value=2.3), "setpoint_offset_above_maximum"),
        (replace(HVAC, vulnerable=True, value=1.5), "setpoint_offset_above_maximum"),
        (replace(HVAC, indoor_temp_c=28.0), "indoor_temperature_at_limit"),
        (replace(HVAC, vulnerable=True, value=0.5, indoor_temp_c=26.2), "indoor_temperature_at_limit"),
        (replace(HVAC, cooling=False, indoor_temp_c=18.0), "indoor_temperature_at_limit"),
        (replace(HVAC, protected=True), "protected_occupant"),
        (replace(HVAC, indoor_temp_c=float("nan")), "indoor_temperature_at_limit"),
        (replace(BATTERY, battery_soc_fraction=0.2), "battery_at_reserve"),
        (replace(BATTERY, storm_forecast=True), "storm_hold"),
        (replace(HEATER, tank_temp_c=50.0), "tank_below_minimum"),
        (
            replace(HVAC, vulnerable=True, value=0.5, telemetry_age_s=TELEMETRY_STALE_S + 1),
            "stale_telemetry_vulnerable",
        ),
        (replace(BATTERY, vulnerable=True, telemetry_age_s=float("inf")), "stale_telemetry_vulnerable"),
    ],
)
def test_unsafe_command_vetoed(check: CommandCheck, rule: str) -> None:
    veto = check_command(check)
    assert veto is not None
    assert veto.rule == rule
    assert veto.detail


def test_stale_telemetry_allowed_without_vulnerable() -> None:
    assert check_command(replace(BATTERY, telemetry_age_s=TELEMETRY_STALE_S + 60)) is None
