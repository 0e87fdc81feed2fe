"""Written proposals: benefits, duties, parameters, estimates and a quotation.

A proposal is built per site from the program terms, the site's devices and
its own load and weather history. Every benefit is labelled confirmed or
potential, and every figure definite or assumption with the assumption stated.

References
----------
DOE DER Aggregator Code of Conduct (November 2023), B. Consumer Enrollment,
Proposals, items a-e, and the rule that estimates make clear which numbers are
definite figures and which are assumptions.
PG&E SmartAC: air-conditioner cycling of at most 50 % of run time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from coflex.domain.enrollment.parameters import plain_parameter_lines, terms_hash
from coflex.domain.enrollment.quotation import Quotation
from coflex.domain.fleet import DeviceKind
from coflex.domain.programs import ProgramTerms
from coflex.errors import InputError

CASES = ("low", "central", "high")
# Assumed electrical input per unit of cooling output of a central air
# conditioner: a coefficient of performance of 3.
AC_COP = 3.0
# Share of each device's rated power that an event frees, per case; every
# value is printed in the proposal as an assumption.
DEVICE_SHARES: dict[DeviceKind, tuple[float, float, float]] = {
    DeviceKind.HVAC: (0.3, 0.5, 0.7),
    DeviceKind.BATTERY: (0.5, 0.8, 1.0),
    DeviceKind.EV_CHARGER: (0.05, 0.15, 0.3),
    DeviceKind.WATER_HEATER: (0.1, 0.2, 0.3),
}
EVENT_SHARE_OF_CAP = (1 / 6, 1 / 3, 1.0)
EVENT_HOURS = (2.0, 3.0, None)  # None: the program's maximum event length


class Basis(StrEnum):
    DEFINITE = "definite"
    ASSUMPTION = "assumption"


class BenefitKind(StrEnum):
    CONFIRMED = "confirmed"
    POTENTIAL = "potential"


@dataclass(frozen=True)
class Figure:
    label: str
    value: float
    unit: str
    basis: Basis
    assumption: str | None = None


@dataclass(frozen=True)
class Benefit:
    kind: BenefitKind
    text: str


@dataclass(frozen=True)
class Estimate:
    case: str  # "low", "central" or "high"
    figures: tuple[Figure, ...]
    season_income: Figure


@dataclass(frozen=True)
class DeviceSummary:
    kind: DeviceKind
    parameters: dict[str, object]


@dataclass(frozen=True)
class SiteHistory:
    """The site's own load and weather history, summarised for the estimates.

    Attributes
    ----------
    days : int
        Days of metered household load used.
    mean_afternoon_load_kw : float
        Mean household load from 15:00 to 18:00 local time [kW].
    hottest_afternoon_c : float
        Highest mean afternoon temperature in the weather history [°C].
    """

    days: int
    mean_afternoon_load_kw: float
    hottest_afternoon_c: float


@dataclass(frozen=True)
class Proposal:
    customer_ref: str
    customer_name: str
    program_name: str
    terms: ProgramTerms
    devices: tuple[DeviceSummary, ...]
    history: SiteHistory
    benefits: tuple[Benefit, ...]
    duties: tuple[str, ...]
    estimates: tuple[Estimate, ...]
    quotation: Quotation
    issued_at: datetime

    @property
    def parameters_hash(self) -> str:
        return terms_hash(self.terms)

    @property
    def parameter_lines(self) -> list[str]:
        return plain_parameter_lines(self.terms)

    @property
    def valid_until(self) -> datetime:
        return self.quotation.valid_until


def device_reduction_kw(device: DeviceSummary, case: int, terms: ProgramTerms) -> float:
    """Estimate the load a device frees during an event [kW] in one case."""
    share = DEVICE_SHARES[device.kind][case]
    p = device.parameters
    if device.kind is DeviceKind.HVAC:
        return float(p["cooling_capacity_kw"]) / AC_COP * share  # type: ignore[arg-type]
    if device.kind is DeviceKind.BATTERY:
        if p.get("backup_only"):
            return 0.0
        hours = terms.max_event_s / 3600
        usable_kwh = float(p["capacity_kwh"]) * (  # type: ignore[arg-type]
            1 - terms.limits.battery_reserve_fraction
        )
        return min(float(p["power_kw"]), usable_kwh / hours) * share  # type: ignore[arg-type]
    if device.kind is DeviceKind.EV_CHARGER:
        return float(p["charger_kw"]) * share  # type: ignore[arg-type]
    return float(p["element_kw"]) * share  # type: ignore[arg-type]


def _estimate(
    case: int, devices: tuple[DeviceSummary, ...], terms: ProgramTerms
) -> Estimate:
    kw = sum(device_reduction_kw(d, case, terms) for d in devices)
    events = max(1, round(terms.max_events_per_season * EVENT_SHARE_OF_CAP[case]))
    hours = EVENT_HOURS[case] or terms.max_event_s / 3600
    shares = ", ".join(
        f"{kind.value} {DEVICE_SHARES[kind][case]:.0%}"
        for kind in sorted({d.kind for d in devices})
    )
    figures = (
        Figure(
            "Load freed during an event",
            round(kw, 2),
            "kW",
            Basis.ASSUMPTION,
            f"share of each device's rated power freed: {shares}; air-conditioner "
            f"power is its cooling output divided by {AC_COP:g}",
        ),
        Figure(
            "Events a season",
            events,
            "events",
            Basis.DEFINITE if case == 2 else Basis.ASSUMPTION,
            None if case == 2 else f"{EVENT_SHARE_OF_CAP[case]:.0%} of the season cap",
        ),
        Figure(
            "Hours an event",
            hours,
            "h",
            Basis.DEFINITE if EVENT_HOURS[case] is None else Basis.ASSUMPTION,
            None if EVENT_HOURS[case] is None else "typical event length",
        ),
        Figure(
            "Payment per kWh", terms.payment_per_kwh, terms.currency, Basis.DEFINITE
        ),
    )
    income = Figure(
        "Season income",
        round(kw * hours * events * terms.payment_per_kwh, 2),
        terms.currency,
        Basis.ASSUMPTION,
        "the product of the figures above; payment depends on measured savings",
    )
    return Estimate(CASES[case], figures, income)


def duties(terms: ProgramTerms) -> tuple[str, ...]:
    """Return the customer's co-production duties under ``terms``."""
    return (
        "Keep your enrolled devices switched on and connected to the internet.",
        f"Accept up to {terms.max_events_per_season} events a season, each up to "
        f"{terms.max_event_s / 3600:g} hours, {terms.max_hours_per_season:g} hours "
        "in all; you may override any event.",
        "Read event notices on the channel you chose.",
        "Tell us if someone at home starts to need medical equipment or extra care.",
        "Let us read your 15-minute meter data to measure what you saved.",
    )


def build_proposal(
    customer_ref: str,
    customer_name: str,
    program_name: str,
    terms: ProgramTerms,
    devices: tuple[DeviceSummary, ...],
    history: SiteHistory,
    quotation: Quotation,
    issued_at: datetime,
) -> Proposal:
    """Build a site's proposal and check that every figure is labelled.

    Raises
    ------
    InputError
        If the site has no devices, or a figure is an assumption without text.
    """
    if not devices:
        raise InputError(
            f"customer {customer_ref} has no devices to enroll: add a device first",
            value=customer_ref,
            field="devices",
        )
    benefits = (
        Benefit(
            BenefitKind.CONFIRMED,
            f"{terms.payment_per_kwh:.2f} {terms.currency} for each kWh you save in "
            "an event, measured against your usual use.",
        ),
        Benefit(BenefitKind.CONFIRMED, "No fee to join, to switch or to leave."),
        Benefit(
            BenefitKind.POTENTIAL,
            "Income each season, as estimated below; it depends on how many events "
            "we call and what you save.",
        ),
        Benefit(
            BenefitKind.POTENTIAL,
            "Less strain on the grid on the hottest afternoons.",
        ),
    )
    estimates = tuple(_estimate(case, devices, terms) for case in range(3))
    proposal = Proposal(
        customer_ref,
        customer_name,
        program_name,
        terms,
        devices,
        history,
        benefits,
        duties(terms),
        estimates,
        quotation,
        issued_at,
    )
    check_labels(proposal)
    return proposal


def check_labels(proposal: Proposal) -> None:
    """Raise if any assumption figure lacks its stated assumption."""
    for estimate in proposal.estimates:
        for figure in (*estimate.figures, estimate.season_income):
            if figure.basis is Basis.ASSUMPTION and not figure.assumption:
                raise InputError(
                    f"figure {figure.label!r} in the {estimate.case} case is an "
                    "assumption without its assumption stated: state it",
                    value=figure.label,
                    field="assumption",
                )
