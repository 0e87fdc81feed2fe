"""Program terms: hashing, and contracts that may only be stricter."""

from __future__ import annotations

from dataclasses import replace

import pytest

from coflex.domain.programs import HealthSafetyLimits, ProgramTerms, check_contract_terms
from coflex.errors import InputError, RuleViolation

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


# The hash of the default terms before free_opt_outs_per_season existed.
DEFAULT_TERMS_HASH = "8e05124b806305c7e51e782c2e1ef16d4735bd846bea584062dcda2b57b7d613"


def test_unset_allowance_keeps_old_hash() -> None:
    """Terms signed before the allowance existed keep their fingerprint."""
    assert PROGRAM.free_opt_outs_per_season is None
    assert PROGRAM.parameters_hash() == DEFAULT_TERMS_HASH
    stored = PROGRAM.to_json()
    del stored["free_opt_outs_per_season"]
    assert ProgramTerms.from_json(stored).parameters_hash() == DEFAULT_TERMS_HASH


def test_allowance_changes_hash() -> None:
    with_allowance = replace(PROGRAM, free_opt_outs_per_season=3)
    assert with_allowance.parameters_hash() != DEFAULT_TERMS_HASH
    again = ProgramTerms.from_json(with_allowance.to_json())
    assert again.free_opt_outs_per_season == 3
    assert again.parameters_hash() == with_allowance.parameters_hash()


@pytest.mark.parametrize(
    ("program", "contract"),
    [
        (None, 3),  # a penalty the program does not have
        (3, 2),  # fewer free opt-outs than the program gives
        (3, None),  # contracts may drop the penalty
        (3, 4),
    ],
)
def test_contract_allowance_no_stricter(program: int | None, contract: int | None) -> None:
    program_terms = replace(PROGRAM, free_opt_outs_per_season=program)
    contract_terms = replace(PROGRAM, free_opt_outs_per_season=contract)
    protects_less = (contract is not None) and (program is None or contract < program)
    if protects_less:
        with pytest.raises(RuleViolation, match="free_opt_outs_per_season"):
            check_contract_terms(program_terms, contract_terms)
    else:
        check_contract_terms(program_terms, contract_terms)


def test_negative_allowance_rejected() -> None:
    with pytest.raises(InputError, match="free_opt_outs_per_season -1"):
        replace(PROGRAM, free_opt_outs_per_season=-1)
