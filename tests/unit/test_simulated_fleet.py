"""The simulated fleet behind the device adapter seam: commands and their expiry."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np

from coflex.adapters.devices.base import Action, Command
from coflex.adapters.devices.simulated import SimulatedFleet, to_datetime64
from coflex.adapters.readers.household import (
    assign_base_load,
    base_load_kw,
    load_household_load,
)
from coflex.adapters.readers.weather import read_weather
from coflex.domain.fleet import DeviceKind
from coflex.simulation import fleet as model

TZ = "America/New_York"
DAY = date(2026, 7, 14)
START = datetime(2026, 7, 14, 4, 0, tzinfo=UTC)  # local midnight


def small_fleet() -> SimulatedFleet:
    rng = np.random.default_rng(3)
    weather = read_weather()
    fleet = model.build_fleet(6, rng, latitude=weather.latitude)
    load = load_household_load()
    base = base_load_kw(load, assign_base_load(load, 6, DAY, 2, rng), DAY, 2)
    state = model.initial_state(fleet, to_datetime64(START), weather, timezone=TZ)
    kinds: list[str] = []
    index: list[int] = []
    for kind, params in (
        ("hvac", fleet.hvac),
        ("battery", fleet.battery),
        ("ev_charger", fleet.ev),
        ("water_heater", fleet.water_heater),
    ):
        kinds += [kind] * params.site.size
        index += list(range(params.site.size))
    return SimulatedFleet(
        fleet, state, weather, TZ, np.arange(1, len(kinds) + 1), kinds, np.array(index), base, DAY,
        battery_reserve_fraction=np.full(6, 0.2), water_heater_min_c=np.full(6, 50.0),
        meter_from=START, step_s=300,
    )


def test_curtailment_expires_on_device() -> None:
    """A device returns to its own schedule at ``until`` with no restore sent."""
    sim = small_fleet()
    until = START + timedelta(hours=1)
    acks = sim.send(
        [Command(1, DeviceKind.HVAC, Action.CURTAIL, 2.0, "test", until=until)], START
    )
    assert acks[0].accepted
    sim.advance(START + timedelta(minutes=30))
    assert sim.hvac_offset[0] == 2.0
    sim.advance(START + timedelta(hours=1, minutes=5))
    assert sim.hvac_offset[0] == 0.0


def test_restore_clears_expiry() -> None:
    sim = small_fleet()
    until = START + timedelta(hours=1)
    sim.send([Command(1, DeviceKind.HVAC, Action.CURTAIL, 1.0, "t", until=until)], START)
    sim.send([Command(1, DeviceKind.HVAC, Action.RESTORE, None, "t")], START)
    sim.advance(START + timedelta(minutes=10))
    assert sim.hvac_offset[0] == 0.0
    assert not sim._expiry


def test_unknown_device_rejected() -> None:
    sim = small_fleet()
    acks = sim.send([Command(999, DeviceKind.HVAC, Action.CURTAIL, 1.0, "t")], START)
    assert not acks[0].accepted
    assert acks[0].detail == "unknown device"


def test_meter_counts_whole_intervals() -> None:
    sim = small_fleet()
    sim.advance(START + timedelta(hours=1))
    energy = sim.meter()
    assert energy.shape == (6, 4)
    assert np.all(energy > 0)
