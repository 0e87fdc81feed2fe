"""Program terms: hashing, and contracts that may only be stricter."""

from __future__ import annotations

from dataclasses import replace

import pytest

from coflex.domain.programs import HealthSafetyLimits, ProgramTerms, check_contract_terms
from coflex.errors import RuleViolation

PROGRAM = ProgramTerms()


def test_terms_round_trip_keeps_hash() -> None:
    again = ProgramTerms.from_json(PROGRAM.to_json())
    assert again == PROGRAM
    assert again.parameters_hash() == PROGRAM.parameters_hash()


def test_any_change_changes_hash() -> None:
    changed = replace(PROGRAM, max_events_per_season=PROGRAM.max_events_per_season - 1)
    assert changed.parameters_hash() != PROGRAM.parameters_hash()


@pytest.mark.parametrize(
    "contract",
    [
        PROGRAM,
        replace(PROGRAM, max_events_per_season=2),
        replace(PROGRAM, min_notice_s=PROGRAM.min_notice_s * 2),
        replace(PROGRAM, limits=replace(PROGRAM.limits, indoor_max_c=26.0)),
        replace(PROGRAM, limits=replace(PROGRAM.limits, battery_reserve_fraction=0.5)),
    ],
)
def test_stricter_contract_accepted(contract: ProgramTerms) -> None:
    check_contract_terms(PROGRAM, contract)


@pytest.mark.parametrize(
    ("contract", "field"),
    [
        (replace(PROGRAM, max_events_per_season=31), "max_events_per_season"),
        (replace(PROGRAM, max_hours_per_season=200.0), "max_hours_per_season"),
        (replace(PROGRAM, min_notice_s=600), "min_notice_s"),
        (replace(PROGRAM, max_event_s=6 * 3600), "max_event_s"),
        (replace(PROGRAM, limits=replace(PROGRAM.limits, indoor_max_c=29.0)), "limits"),
        (
            replace(PROGRAM, limits=replace(PROGRAM.limits, max_setpoint_offset_c=3.0)),
            "limits",
        ),
        (
            replace(PROGRAM, limits=replace(PROGRAM.limits, battery_reserve_fraction=0.1)),
            "limits",
        ),
    ],
)
def test_looser_contract_rejected(contract: ProgramTerms, field: str) -> None:
    with pytest.raises(RuleViolation) as caught:
        check_contract_terms(PROGRAM, contract)
    assert caught.value.field == field
    assert "stricter" in caught.value.message


def test_limits_order_is_strictness() -> None:
    strict = HealthSafetyLimits(indoor_max_c=26.0, max_setpoint_offset_c=1.0)
    assert strict.is_no_looser_than(HealthSafetyLimits())
    assert not HealthSafetyLimits().is_no_looser_than(strict)
