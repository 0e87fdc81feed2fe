"""Who gains what from an event: customer, aggregator, grid and society.

The value an event creates is the grid's avoided energy and capacity cost plus
the monetised avoided CO2. It splits into four parts that add up exactly:

- customer payment (from :func:`coflex.domain.measurement.settlement.settle`);
- aggregator margin = aggregator revenue − customer payment;
- grid net value = avoided energy + avoided capacity − aggregator revenue;
- social value = avoided CO2 [t] × social cost of carbon.

All money is in integer cents, each primary value rounded half up once, and
the margin and grid net value are exact differences of those integers, so the
identity is exact to the cent for every site and for the event.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from coflex.errors import InputError

KG_PER_LB = 0.45359237

# EIA FAQ "How much carbon dioxide is produced per kilowatthour of U.S.
# electricity generation?": natural-gas-fired generation emitted 0.97 lb
# CO2/kWh in 2022. Gas units are usually the marginal ones during peak events.
GAS_EMISSION_FACTOR_KG_PER_KWH = 0.97 * KG_PER_LB

# US EPA, "Report on the Social Cost of Greenhouse Gases" (2023): $190 per
# tonne of CO2 emitted in 2020, in 2020 dollars, at a 2 % discount rate.
SOCIAL_COST_USD_PER_T_CO2 = 190.0

# PJM 2025/2026 Base Residual Auction clearing price for the RTO [USD/MW-day].
PJM_RPM_2025_26_USD_PER_MW_DAY = 269.92


def capacity_value_per_kw_event(
    usd_per_mw_day: float, events_per_year: float, *, days: float = 365.0
) -> float:
    """Spread a capacity price over the events of a year [currency/kW].

    Parameters
    ----------
    usd_per_mw_day : float
        Capacity price [currency/MW-day], e.g. a PJM RPM clearing price.
    events_per_year : float
        Events the capacity is expected to be called for [1/year].
    days : float
        Days of the delivery year the price applies to [d].

    Returns
    -------
    float
        Capacity value of one kW of average reduction during one event.
    """
    if events_per_year <= 0:
        raise InputError(
            f"events_per_year={events_per_year} is invalid; give a positive count",
            value=events_per_year,
            field="events_per_year",
        )
    return usd_per_mw_day / 1000.0 * days / events_per_year


@dataclass(frozen=True)
class BenefitShares:
    """Per-site shares of an event's value, in cents, and avoided CO2 [kg].

    ``customer_payment + aggregator_margin + grid_net_value + social_value``
    equals ``total_value`` exactly, per site and summed over the event.
    """

    customer_payment_cents: np.ndarray
    aggregator_revenue_cents: np.ndarray
    aggregator_margin_cents: np.ndarray
    grid_energy_value_cents: np.ndarray
    grid_capacity_value_cents: np.ndarray
    grid_net_value_cents: np.ndarray
    avoided_co2_kg: np.ndarray
    social_value_cents: np.ndarray
    total_value_cents: np.ndarray

    def event_totals(self) -> dict[str, float]:
        """Sum every share over the sites (cents, and kg for CO2)."""
        return {
            name: float(np.sum(getattr(self, name)))
            for name in self.__dataclass_fields__
        }


def _cents(amount: np.ndarray) -> np.ndarray:
    return np.floor(np.round(amount * 100.0, 6) + 0.5).astype(np.int64)


def share_benefits(
    delivered_kwh_per_site: np.ndarray,
    customer_payment_per_site: np.ndarray,
    *,
    grid_energy_value_per_kwh: float,
    grid_capacity_value_per_kw: float,
    aggregator_revenue_per_kwh: float,
    event_hours: float,
    emission_factor_kg_per_kwh: float = GAS_EMISSION_FACTOR_KG_PER_KWH,
    social_cost_per_t_co2: float = SOCIAL_COST_USD_PER_T_CO2,
) -> BenefitShares:
    """Split the value an event created between customer, aggregator, grid and society.

    Parameters
    ----------
    delivered_kwh_per_site : np.ndarray
        float [site], delivered energy [kWh]; NaN counts as 0.
    customer_payment_per_site : np.ndarray
        float [site], what each customer is paid [currency].
    grid_energy_value_per_kwh : float
        Avoided energy cost, e.g. the real-time price during the event
        [currency/kWh]. A program parameter: no single public figure applies.
    grid_capacity_value_per_kw : float
        Capacity value of one kW of average reduction for this event
        [currency/kW], see :func:`capacity_value_per_kw_event`.
    aggregator_revenue_per_kwh : float
        What the grid operator or utility pays the aggregator [currency/kWh],
        on positive delivered energy only.
    event_hours : float
        Event duration [h], to turn energy into average reduction [kW].
    emission_factor_kg_per_kwh : float
        Marginal emission factor [kg CO2/kWh]; default EIA 2022 gas-fired.
    social_cost_per_t_co2 : float
        Social cost of carbon [currency/t CO2]; default EPA 2023, $190.

    Returns
    -------
    BenefitShares
    """
    delivered = np.nan_to_num(np.asarray(delivered_kwh_per_site, dtype=np.float64))
    payment = np.asarray(customer_payment_per_site, dtype=np.float64)
    if payment.shape != delivered.shape or not np.isfinite(payment).all():
        raise InputError(
            f"customer_payment_per_site has shape {payment.shape} or non-finite "
            f"values; give one finite payment per site {delivered.shape}",
            value=payment.shape,
            field="customer_payment_per_site",
        )
    if event_hours <= 0:
        raise InputError(
            f"event_hours={event_hours} is invalid; give the event length in hours",
            value=event_hours,
            field="event_hours",
        )

    customer = _cents(payment)
    revenue = _cents(aggregator_revenue_per_kwh * np.maximum(delivered, 0.0))
    energy = _cents(grid_energy_value_per_kwh * delivered)
    capacity = _cents(grid_capacity_value_per_kw * delivered / event_hours)
    avoided_kg = emission_factor_kg_per_kwh * delivered
    social = _cents(avoided_kg / 1000.0 * social_cost_per_t_co2)
    return BenefitShares(
        customer_payment_cents=customer,
        aggregator_revenue_cents=revenue,
        aggregator_margin_cents=revenue - customer,
        grid_energy_value_cents=energy,
        grid_capacity_value_cents=capacity,
        grid_net_value_cents=energy + capacity - revenue,
        avoided_co2_kg=avoided_kg,
        social_value_cents=social,
        total_value_cents=energy + capacity + social,
    )
