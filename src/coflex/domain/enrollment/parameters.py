"""The operational parameters as customers read them, derived from the terms object.

Proposal, Key Facts and contract all print these lines from the very
:class:`~coflex.domain.programs.ProgramTerms` that operations enforce, and
carry its :meth:`~coflex.domain.programs.ProgramTerms.parameters_hash`; no
document retypes a value.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from coflex.domain.programs import EventClass, ProgramTerms

NOTICE_WORDS = {
    EventClass.DAY_AHEAD: "by 2 pm the day before",
    EventClass.EMERGENCY: "as soon as we can, and always after the event",
}


@lru_cache(maxsize=64)
def terms_hash(terms: ProgramTerms) -> str:
    """Return ``terms.parameters_hash()``, computed once per distinct terms."""
    return terms.parameters_hash()


def fahrenheit(temp_c: float) -> int:
    """Convert a temperature [°C] to whole degrees Fahrenheit [°F]."""
    return round(temp_c * 9 / 5 + 32)


def fahrenheit_delta(delta_c: float) -> int:
    """Convert a temperature difference [K] to whole Fahrenheit degrees."""
    return round(delta_c * 9 / 5)


def _notice(terms: ProgramTerms) -> str:
    if terms.event_class in NOTICE_WORDS:
        return NOTICE_WORDS[terms.event_class]
    hours = terms.min_notice_s / 3600
    if hours >= 1:
        return f"at least {hours:g} hours before it starts"
    return f"at least {terms.min_notice_s // 60} minutes before it starts"


def plain_parameter_lines(terms: ProgramTerms) -> list[str]:
    """Return the parameters as short plain sentences for customers."""
    limits = terms.limits
    care = "if someone at home needs extra care"
    offset, offset_care = (
        limits.max_setpoint_offset_c,
        limits.max_setpoint_offset_vulnerable_c,
    )
    warm, warm_care = limits.indoor_max_c, limits.indoor_max_vulnerable_c
    cold, cold_care = limits.indoor_min_c, limits.indoor_min_vulnerable_c
    return [
        f"We tell you about each event {_notice(terms)}.",
        f"An event lasts {terms.max_event_s / 3600:g} hours or less.",
        f"We call {terms.max_events_per_season} events or fewer each season, "
        f"and {terms.max_hours_per_season:g} hours or fewer in all.",
        f"We move your thermostat by {offset:g} °C ({fahrenheit_delta(offset)} °F) "
        f"or less, or by {offset_care:g} °C ({fahrenheit_delta(offset_care)} °F) "
        f"or less {care}.",
        f"We stop if your home gets warmer than {warm:g} °C ({fahrenheit(warm)} °F)"
        f", or {warm_care:g} °C ({fahrenheit(warm_care)} °F) {care}.",
        f"We stop if your home gets colder than {cold:g} °C ({fahrenheit(cold)} °F)"
        f", or {cold_care:g} °C ({fahrenheit(cold_care)} °F) {care}.",
        f"Your home battery keeps at least {limits.battery_reserve_fraction:.0%} of "
        "its charge.",
        f"Your hot water stays at {limits.water_heater_min_c:g} °C "
        f"({fahrenheit(limits.water_heater_min_c)} °F) or hotter.",
        "We never use the air conditioner in a home with medical or life support "
        "equipment.",
        f"We pay you {terms.payment_per_kwh:.2f} {terms.currency} for each kWh you "
        "save in an event.",
    ]


@dataclass(frozen=True)
class ParameterRow:
    label: str
    value: str
    field: str  # the ProgramTerms attribute it comes from


def parameter_table(terms: ProgramTerms) -> list[ParameterRow]:
    """Return every enforced parameter with its unit and the attribute it comes from."""
    limits = terms.limits
    rows = [
        ParameterRow("Event class", terms.event_class.value, "event_class"),
        ParameterRow("Minimum notice", f"{terms.min_notice_s} s", "min_notice_s"),
        ParameterRow("Maximum event length", f"{terms.max_event_s} s", "max_event_s"),
        ParameterRow(
            "Maximum events per season",
            str(terms.max_events_per_season),
            "max_events_per_season",
        ),
        ParameterRow(
            "Maximum event hours per season",
            f"{terms.max_hours_per_season:g} h",
            "max_hours_per_season",
        ),
        ParameterRow(
            "Payment per delivered kWh",
            f"{terms.payment_per_kwh:.2f} {terms.currency}",
            "payment_per_kwh",
        ),
        ParameterRow("Planning margin", f"{terms.plan_margin:.0%}", "plan_margin"),
    ]
    for name, value in vars(limits).items():
        unit = "°C" if name.endswith("_c") else ""
        shown = f"{value:.0%}" if name.endswith("fraction") else f"{value:g} {unit}"
        rows.append(
            ParameterRow(name.replace("_", " ").capitalize(), shown, f"limits.{name}")
        )
    return rows
