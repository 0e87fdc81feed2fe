"""Time a history run: 10,000 sites, 46 days at 5-minute steps.

Usage::

    python benchmarks/simulate_history.py [n_sites] [n_days]
"""

from __future__ import annotations

import datetime as dt
import sys
import time

import numpy as np

from coflex.adapters.readers.household import (
    assign_base_load,
    base_load_kw,
    load_household_load,
)
from coflex.adapters.readers.weather import read_weather
from coflex.simulation.fleet import build_fleet, initial_state, simulate

TIMEZONE = "America/New_York"


def main() -> None:
    n_sites = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    n_days = int(sys.argv[2]) if len(sys.argv) > 2 else 46
    rng = np.random.default_rng(7)
    weather = read_weather()
    first_day = dt.date(2026, 6, 1)

    began = time.perf_counter()
    load = load_household_load()
    assignment = assign_base_load(load, n_sites, first_day, n_days + 1, rng)
    base_kw = base_load_kw(load, assignment, first_day, n_days + 1)
    fleet = build_fleet(n_sites, rng, latitude=weather.latitude)
    prepared = time.perf_counter()
    prepared_cpu = time.process_time()

    start = np.datetime64("2026-06-01T04:00", "s")  # local midnight, EDT
    end = start + np.timedelta64(n_days * 86400, "s")
    state = initial_state(fleet, start, weather, timezone=TIMEZONE)
    state, energy_kwh = simulate(
        fleet, state, start, end, 300, weather, base_kw, TIMEZONE
    )
    finished = time.perf_counter()
    simulate_cpu_s = time.process_time() - prepared_cpu

    print(f"sites={n_sites} days={n_days} steps={n_days * 288}")
    print(f"prepare: {prepared - began:.1f} s, simulate: {finished - prepared:.1f} s")
    # Wall time depends on other load on the machine; CPU time much less so.
    print(f"simulate CPU time: {simulate_cpu_s:.1f} s")
    print(f"mean site power: {energy_kwh.sum() / n_sites / n_days / 24:.2f} kW")


if __name__ == "__main__":
    main()
