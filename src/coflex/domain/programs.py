"""Program terms and the health-and-safety limits that every dispatch respects.

The same frozen objects are enforced by operations and shown to customers, and
their hash ties a contract to the exact parameters it was signed under.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum

from coflex.errors import InputError, RuleViolation


class EventClass(StrEnum):
    """Event classes with the notice norms of real programs.

    Day-ahead follows PG&E SmartRate (notice by 14:00 the day before),
    reliability follows NYISO SCR dispatch (2 h), fast follows ERCOT ERS-30
    (30 min), and emergency follows PG&E SmartAC (no advance notice, so a
    notice follows the event).
    """

    DAY_AHEAD = "day_ahead"
    RELIABILITY = "reliability"
    FAST = "fast"
    EMERGENCY = "emergency"


@dataclass(frozen=True)
class HealthSafetyLimits:
    """Limits that no command may break, with defaults from health guidance.

    References
    ----------
    WHO Housing and Health Guidelines (2018): at least 18 °C indoors in the
    cold season, higher for vulnerable occupants (WHO 1987 guidance, +2 °C).
    Heatwave Plan for England: vulnerable people struggle to cool above 26 °C.
    SCE Smart Energy Program and PG&E SmartAC: setpoint offset of at most
    4 °F (2.2 °C).
    """

    indoor_min_c: float = 18.0
    indoor_min_vulnerable_c: float = 20.0
    # NOTE: no health guidance sets a general indoor maximum; 28 °C echoes the
    # CIBSE living-room overheating criterion and is a proposed default.
    indoor_max_c: float = 28.0
    indoor_max_vulnerable_c: float = 26.0
    max_setpoint_offset_c: float = 2.2
    # NOTE: a proposed default, stricter than the program-wide 2.2 °C.
    max_setpoint_offset_vulnerable_c: float = 1.0
    # NOTE: a proposed default backup reserve; ConnectedSolutions and other
    # battery programs let the owner keep more.
    battery_reserve_fraction: float = 0.20
    # Legionella control (HSE ACOP L8): hot water stored at 60 °C and delivered
    # at 50 °C or more; the tank is not let fall below the delivery level.
    water_heater_min_c: float = 50.0
    # NWS heat index thresholds: a Heat Advisory level excludes vulnerable
    # sites, an Extreme Heat Warning level suspends cooling curtailment.
    heat_index_vulnerable_exclusion_c: float = 39.4  # 103 °F
    heat_index_suspend_c: float = 40.6  # 105 °F
    # NOTE: NWS cold thresholds vary by forecast office; these are estimates
    # for the US Southeast (Cold Weather Advisory and Extreme Cold Warning).
    cold_vulnerable_exclusion_c: float = -12.0
    cold_suspend_c: float = -18.0

    def indoor_max_for(self, vulnerable: bool) -> float:
        return self.indoor_max_vulnerable_c if vulnerable else self.indoor_max_c

    def indoor_min_for(self, vulnerable: bool) -> float:
        return self.indoor_min_vulnerable_c if vulnerable else self.indoor_min_c

    def max_offset_for(self, vulnerable: bool) -> float:
        if vulnerable:
            return self.max_setpoint_offset_vulnerable_c
        return self.max_setpoint_offset_c

    def is_no_looser_than(self, other: HealthSafetyLimits) -> bool:
        """Check that every limit here is at least as strict as in ``other``."""
        return (
            self.indoor_min_c >= other.indoor_min_c
            and self.indoor_min_vulnerable_c >= other.indoor_min_vulnerable_c
            and self.indoor_max_c <= other.indoor_max_c
            and self.indoor_max_vulnerable_c <= other.indoor_max_vulnerable_c
            and self.max_setpoint_offset_c <= other.max_setpoint_offset_c
            and self.max_setpoint_offset_vulnerable_c
            <= other.max_setpoint_offset_vulnerable_c
            and self.battery_reserve_fraction >= other.battery_reserve_fraction
            and self.water_heater_min_c >= other.water_heater_min_c
            and self.heat_index_vulnerable_exclusion_c
            <= other.heat_index_vulnerable_exclusion_c
            and self.heat_index_suspend_c <= other.heat_index_suspend_c
            and self.cold_vulnerable_exclusion_c >= other.cold_vulnerable_exclusion_c
            and self.cold_suspend_c >= other.cold_suspend_c
        )


@dataclass(frozen=True)
class ProgramTerms:
    """Operational parameters of a program, as dispatched and as disclosed.

    Caps follow the SCE Smart Energy Program terms: events of at most 4 h,
    at most 180 h a year.
    """

    event_class: EventClass = EventClass.RELIABILITY
    min_notice_s: int = 2 * 3600
    max_event_s: int = 4 * 3600
    max_events_per_season: int = 30  # GCEC demand response: at most 30 a year
    max_hours_per_season: float = 180.0
    payment_per_kwh: float = 2.00  # PG&E Power Saver Rewards paid $2/kWh in 2022-23
    currency: str = "USD"
    plan_margin: float = 0.10  # planned above the target to cover dropouts
    statement_due_s: int = (
        24 * 3600
    )  # feedback statement at most this long after the end
    limits: HealthSafetyLimits = field(default_factory=HealthSafetyLimits)
    # Opt-outs and overrides a customer may make per season before the terms
    # let the payment of a further event they opt out of or override be withheld.
    # None (the default) means no penalty at all, as in PG&E SmartAC and the
    # SCE Smart Energy Program, which let customers override without loss.
    free_opt_outs_per_season: int | None = None

    def __post_init__(self) -> None:
        free = self.free_opt_outs_per_season
        if free is not None and free < 0:
            raise InputError(
                f"free_opt_outs_per_season {free} is negative: give 0 or more, "
                "or leave it unset for no penalty at all",
                value=free,
                field="free_opt_outs_per_season",
            )

    def parameters_hash(self) -> str:
        """Return the SHA-256 of the canonical JSON of these terms.

        A term that is unset (None) and was added after the first release is
        left out of the JSON, so terms signed before it existed keep their hash.
        """
        values = asdict(self)
        for name in _OPTIONAL_TERMS:
            if values[name] is None:
                del values[name]
        text = json.dumps(values, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def to_json(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_json(cls, payload: dict[str, object]) -> ProgramTerms:
        values = dict(payload)
        limits = HealthSafetyLimits(**values.pop("limits"))  # type: ignore[arg-type]
        values["event_class"] = EventClass(values["event_class"])
        return cls(limits=limits, **values)  # type: ignore[arg-type]

    def with_limits(self, limits: HealthSafetyLimits) -> ProgramTerms:
        return replace(self, limits=limits)


# Terms added after contracts were first signed; see ProgramTerms.parameters_hash.
_OPTIONAL_TERMS = ("free_opt_outs_per_season",)


def check_contract_terms(program: ProgramTerms, contract: ProgramTerms) -> None:
    """Reject contract terms that are looser than the program's.

    A contract may protect its customer more than the program does (stricter
    limits, fewer or shorter events, longer notice) but never less.

    Raises
    ------
    RuleViolation
        Naming the first term that is looser.
    """
    if not contract.limits.is_no_looser_than(program.limits):
        raise RuleViolation(
            "contract health-and-safety limits are looser than the program's: "
            "a contract may only make them stricter",
            field="limits",
        )
    looser = [
        ("min_notice_s", contract.min_notice_s < program.min_notice_s),
        ("max_event_s", contract.max_event_s > program.max_event_s),
        (
            "max_events_per_season",
            contract.max_events_per_season > program.max_events_per_season,
        ),
        (
            "max_hours_per_season",
            contract.max_hours_per_season > program.max_hours_per_season,
        ),
    ]
    for name, is_looser in looser:
        if is_looser:
            raise RuleViolation(
                f"contract {name} {getattr(contract, name)} is looser than the "
                f"program's {getattr(program, name)}: a contract may only be stricter",
                value=getattr(contract, name),
                field=name,
            )
    _check_allowance(
        program.free_opt_outs_per_season, contract.free_opt_outs_per_season
    )


def _check_allowance(program_free: int | None, contract_free: int | None) -> None:
    """Reject a contract that penalises opt-outs sooner than its program does."""
    if contract_free is None:
        return
    if program_free is None or contract_free < program_free:
        program_text = "no penalty" if program_free is None else program_free
        raise RuleViolation(
            f"contract free_opt_outs_per_season {contract_free} penalises "
            f"opt-outs sooner than the program's {program_text}: a contract may "
            "only protect the customer more",
            value=contract_free,
            field="free_opt_outs_per_season",
        )
