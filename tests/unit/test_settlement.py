"""Tests for event settlement and cent rounding."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from coflex.domain.measurement.settlement import (
    PaymentRates,
    round_lines_to_cents,
    settle,
)
from coflex.errors import InputError


def test_energy_paid_per_kwh():
    settlement = settle(np.array([1.234, 0.0]), PaymentRates(energy_per_kwh=2.0))
    assert settlement.line("energy").tolist() == [247, 0]
    assert settlement.total_cents.tolist() == [247, 0]


def test_negative_performance_not_charged():
    settlement = settle(np.array([-3.0]), PaymentRates())
    assert settlement.total_cents.tolist() == [0]


def test_negative_performance_netted_by_flag():
    rates = PaymentRates(energy_per_kwh=1.0, net_negative_performance=True)
    settlement = settle(np.array([-3.0]), rates)
    assert settlement.total_cents.tolist() == [-300]


def test_override_free_by_default():
    settlement = settle(np.array([1.0]), PaymentRates(), overridden=np.array([True]))
    assert settlement.line("override_penalty").tolist() == [0]


def test_override_penalty_when_contract_sets():
    rates = PaymentRates(energy_per_kwh=1.0, override_penalty=0.5)
    settlement = settle(np.array([1.0]), rates, overridden=np.array([True]))
    assert settlement.line("override_penalty").tolist() == [-50]
    assert settlement.total_cents.tolist() == [50]


def test_all_components_on_statement():
    rates = PaymentRates(
        energy_per_kwh=1.0,
        per_event=2.0,
        capacity_per_kw_month=8.21,
        sign_up=25.0,
        seasonal=10.0,
    )
    settlement = settle(
        np.array([2.0]),
        rates,
        capacity_kw=np.array([1.5]),
        capacity_months=1.0,
        signed_up=np.array([True]),
        season_completed=np.array([True]),
    )
    assert settlement.lines_cents.tolist() == [[200, 200, 1232, 2500, 1000, 0]]
    assert settlement.event_total_cents == 5132


def test_unmeasured_site_flagged():
    settlement = settle(np.array([np.nan, 1.0]), PaymentRates())
    assert settlement.unmeasured.tolist() == [True, False]
    assert settlement.line("energy").tolist() == [0, 200]


def test_negative_rate_rejected():
    with pytest.raises(InputError):
        PaymentRates(energy_per_kwh=-1.0)


def test_mask_shape_checked():
    with pytest.raises(InputError):
        settle(np.array([1.0, 2.0]), PaymentRates(), participated=np.array([True]))


def test_rounding_keeps_row_total():
    # Three lines of 33.333... cents add up to 100 cents, not 99.
    lines = round_lines_to_cents(np.array([[100 / 3, 100 / 3, 100 / 3]]))
    assert lines.sum() == 100
    assert sorted(lines[0].tolist()) == [33, 33, 34]


@settings(max_examples=200, deadline=None)
@given(
    delivered=hnp.arrays(
        np.float64, st.integers(1, 30), elements=st.floats(-50, 50, width=32)
    ),
    energy_rate=st.floats(0, 5),
    per_event=st.floats(0, 3),
    capacity_rate=st.floats(0, 12),
    penalty=st.floats(0, 2),
    net=st.booleans(),
)
def test_lines_add_up_to_total(
    delivered, energy_rate, per_event, capacity_rate, penalty, net
):
    rates = PaymentRates(
        energy_per_kwh=energy_rate,
        net_negative_performance=net,
        per_event=per_event,
        capacity_per_kw_month=capacity_rate,
        override_penalty=penalty,
    )
    n = delivered.shape[0]
    settlement = settle(
        delivered,
        rates,
        capacity_kw=np.abs(delivered) / 4,
        capacity_months=1.0,
        overridden=np.arange(n) % 3 == 0,
    )
    exact = (
        np.column_stack(
            [
                energy_rate * (delivered if net else np.maximum(delivered, 0)),
                np.full(n, per_event),
                capacity_rate * np.abs(delivered) / 4,
                np.zeros(n),
                np.zeros(n),
                -penalty * (np.arange(n) % 3 == 0),
            ]
        )
        * 100
    )
    assert (settlement.lines_cents.sum(axis=1) == settlement.total_cents).all()
    assert settlement.event_total_cents == settlement.total_cents.sum()
    assert (np.abs(settlement.lines_cents - exact) < 1 + 1e-6).all()
    assert (np.abs(settlement.total_cents - exact.sum(axis=1)) <= 0.5 + 1e-6).all()
