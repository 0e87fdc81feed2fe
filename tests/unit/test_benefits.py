"""Tests for splitting an event's value between its stakeholders."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from coflex.domain.measurement.benefits import (
    GAS_EMISSION_FACTOR_KG_PER_KWH,
    PJM_RPM_2025_26_USD_PER_MW_DAY,
    capacity_value_per_kw_event,
    share_benefits,
)
from coflex.errors import InputError


def shares(delivered, payment, **overrides):
    terms = {
        "grid_energy_value_per_kwh": 0.50,
        "grid_capacity_value_per_kw": 10.0,
        "aggregator_revenue_per_kwh": 2.50,
        "event_hours": 4.0,
    }
    terms.update(overrides)
    return share_benefits(np.asarray(delivered), np.asarray(payment), **terms)


def test_hand_computed_site():
    result = shares([4.0], [8.0])
    assert result.grid_energy_value_cents.tolist() == [200]
    assert result.grid_capacity_value_cents.tolist() == [1000]
    assert result.aggregator_revenue_cents.tolist() == [1000]
    assert result.aggregator_margin_cents.tolist() == [200]
    assert result.grid_net_value_cents.tolist() == [200]
    assert result.avoided_co2_kg[0] == pytest.approx(4.0 * 0.97 * 0.45359237)
    assert result.social_value_cents.tolist() == [33]  # 1.7599 kg x $190/t


def test_emission_factor_from_eia():
    assert GAS_EMISSION_FACTOR_KG_PER_KWH == pytest.approx(0.43998, abs=1e-5)


def test_pjm_capacity_value_per_event():
    # $269.92/MW-day over a year is $98.52/kW-year; 20 events get $4.93 each.
    value = capacity_value_per_kw_event(PJM_RPM_2025_26_USD_PER_MW_DAY, 20)
    assert value == pytest.approx(4.92604)


def test_negative_delivery_earns_no_revenue():
    result = shares([-2.0], [0.0])
    assert result.aggregator_revenue_cents.tolist() == [0]
    assert result.grid_energy_value_cents.tolist() == [-100]


def test_payment_shape_checked():
    with pytest.raises(InputError):
        shares([1.0, 2.0], [1.0])


def test_zero_event_hours_rejected():
    with pytest.raises(InputError):
        shares([1.0], [1.0], event_hours=0.0)


@settings(max_examples=200, deadline=None)
@given(
    delivered=hnp.arrays(
        np.float64, st.integers(1, 40), elements=st.floats(-20, 60, width=32)
    ),
    payment_rate=st.floats(0, 5),
    energy_value=st.floats(0, 3),
    capacity_value=st.floats(0, 40),
    revenue_rate=st.floats(0, 6),
    scc=st.floats(0, 400),
    hours=st.floats(0.25, 6),
)
def test_parts_add_up_to_total(
    delivered, payment_rate, energy_value, capacity_value, revenue_rate, scc, hours
):
    payment = payment_rate * np.maximum(delivered, 0)
    result = share_benefits(
        delivered,
        payment,
        grid_energy_value_per_kwh=energy_value,
        grid_capacity_value_per_kw=capacity_value,
        aggregator_revenue_per_kwh=revenue_rate,
        event_hours=hours,
        social_cost_per_t_co2=scc,
    )
    parts = (
        result.customer_payment_cents
        + result.aggregator_margin_cents
        + result.grid_net_value_cents
        + result.social_value_cents
    )
    assert (parts == result.total_value_cents).all()
    totals = result.event_totals()
    assert (
        totals["customer_payment_cents"]
        + totals["aggregator_margin_cents"]
        + totals["grid_net_value_cents"]
        + totals["social_value_cents"]
        == totals["total_value_cents"]
    )
