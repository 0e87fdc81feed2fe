"""Time the meter cube and the CAISO 10-in-10 baseline on a fleet of sites.

Usage::

    python benchmarks/baselines.py --sites 100000 [--runs 5] [--caltrack]

Load data: the UCI "Individual household electric power consumption" excerpt
shipped in coflex/data (one household in Sceaux, France, 2007-2008, 15-minute
means, CC BY 4.0). Site i takes the 46-day window starting on day
``i % n_windows`` of that series, rolled by ``i // n_windows`` intervals, and
is placed on the local clock of America/New_York from 2026-06-01 (45 history
days and an event day, 2026-07-16). During the event (17:00-21:00) every site
uses 30 % less. No random numbers are involved.

The script prints one JSON line:

- ``seconds``: median time of ``caiso_10_in_10`` over all sites [s];
- ``load_seconds``: median time of ``build_cube`` on shuffled long-format
  readings of ``load_sites`` sites (at most ``--load-sites``, because the long
  format of 100,000 sites would need about 10 GB) [s];
- ``loop_ratio``: a plain per-site Python loop (numpy inside), timed on the
  first ``--loop-sites`` sites of the same cube and scaled to all sites,
  divided by ``seconds``;
- ``caltrack_ratio`` (with ``--caltrack``): the opendsm CalTRACK DR model fit
  per meter, timed on a few sites in its own virtual environment
  (benchmarks/.venv-caltrack), scaled to all sites, divided by ``seconds``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import date, datetime
from importlib.resources import files
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from coflex.domain.measurement import build_cube, caiso_10_in_10, make_calendar

TIMEZONE = "America/New_York"
FIRST_DAY = date(2026, 6, 1)
N_DAYS = 46
EVENT_SLOTS = np.arange(68, 84)
REDUCTION = 0.30
HERE = Path(__file__).resolve().parent
CALTRACK_VENV = HERE / ".venv-caltrack"


def household_series_kwh() -> np.ndarray:
    """Return the UCI household's 15-minute energy as [day, 96] [kWh]."""
    path = files("coflex") / "data" / "uci-household-15min.csv.gz"
    frame = pd.read_csv(str(path))
    energy = frame["active_power_kw"].to_numpy() * 0.25
    return energy[: energy.size // 96 * 96].reshape(-1, 96)


def fleet_cube(n_sites: int, series: np.ndarray) -> np.ndarray:
    """Build the [site, day, slot] cube [kWh] from windows of the real series."""
    n_windows = series.shape[0] - N_DAYS
    flat = series.reshape(-1)
    cube = np.empty((n_sites, N_DAYS, 96), dtype=np.float32)
    window = np.arange(N_DAYS * 96)
    for start in range(0, n_sites, 4096):
        sites = np.arange(start, min(start + 4096, n_sites))
        first = (sites % n_windows) * 96 + (sites // n_windows) % 96
        cube[sites] = flat[first[:, None] + window].reshape(-1, N_DAYS, 96)
    cube[:, -1, EVENT_SLOTS] *= 1.0 - REDUCTION
    return cube


def long_format(cube: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Turn the cube into shuffled long-format readings with UTC starts."""
    zone = ZoneInfo(TIMEZONE)
    start = int(datetime.combine(FIRST_DAY, datetime.min.time(), zone).timestamp())
    n_sites = cube.shape[0]
    starts = start + 900 * np.arange(N_DAYS * 96, dtype=np.int64)
    site = np.repeat(np.arange(n_sites, dtype=np.int64), starts.size)
    interval_start = np.tile(starts, n_sites)
    # A fixed stride permutation mixes sites and times like an unsorted feed.
    order = (np.arange(site.size, dtype=np.int64) * 7_919) % site.size
    return (
        site[order],
        interval_start[order],
        cube.reshape(-1)[order].astype(np.float64),
    )


def median_seconds(function, runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def per_site_loop(cube, calendar, event_day, excluded) -> np.ndarray:
    """Compute CAISO 10-in-10 one site at a time, as a reference."""
    weekend = calendar.weekend_or_holiday
    window = np.arange(EVENT_SLOTS[0] - 16, EVENT_SLOTS[0] - 4)
    baselines = np.empty((cube.shape[0], 96))
    for site in range(cube.shape[0]):
        days = [
            day
            for day in range(event_day - 1, max(-1, event_day - 46), -1)
            if weekend[day] == weekend[event_day] and not excluded[site, day]
        ][:10]
        profile = cube[site, days].astype(np.float64).mean(axis=0)
        ratio = cube[site, event_day, window].sum() / profile[window].sum()
        baselines[site] = profile * np.clip(ratio, 0.8, 1.2)
    return baselines


def caltrack_seconds_per_site(cube: np.ndarray, n_sample: int) -> float | None:
    """Time the opendsm CalTRACK DR model fit per meter in its own environment."""
    python = CALTRACK_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(CALTRACK_VENV)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "opendsm", "multimethod<2"],
            check=True,
        )
    hourly = cube[:n_sample, :-1].reshape(n_sample, -1, 4).sum(axis=2)
    sample_path = HERE / ".venv-caltrack" / "sample.npz"
    np.savez(
        sample_path, hourly_kwh=hourly, temperature_c=tmy_temperature_c(hourly.shape[1])
    )
    completed = subprocess.run(
        [str(python), str(HERE / "caltrack_fit.py"), str(sample_path)],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    return float(
        json.loads(completed.stdout.strip().splitlines()[-1])["seconds_per_site"]
    )


def tmy_temperature_c(n_hours: int) -> np.ndarray:
    """Return hourly dry-bulb temperature [°C] from pvlib's TMY3 Greensboro NC file."""
    import pvlib

    path = Path(pvlib.__file__).parent / "data" / "723170TYA.CSV"
    frame, _ = pvlib.iotools.read_tmy3(str(path), map_variables=True)
    june_first = 151 * 24
    return frame["temp_air"].to_numpy()[june_first : june_first + n_hours]


def time_load(cube: np.ndarray, runs: int) -> tuple[float, np.ndarray]:
    """Time build_cube on long-format readings of ``cube``; return the cube too."""
    site, start, energy = long_format(cube)
    n_sites = cube.shape[0]

    def load():
        return build_cube(site, start, energy, n_sites, FIRST_DAY, N_DAYS, TIMEZONE)

    return median_seconds(load, runs), load().cube_kwh


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=10_000, help="sites in the cube")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per step")
    parser.add_argument("--load-sites", type=int, default=2_315, help="sites loaded")
    parser.add_argument("--loop-sites", type=int, default=2_000, help="sites looped")
    parser.add_argument("--caltrack", action="store_true", help="time opendsm too")
    parser.add_argument("--caltrack-sites", type=int, default=3, help="sites fitted")
    options = parser.parse_args()

    series = household_series_kwh()
    cube = fleet_cube(options.sites, series)
    calendar = make_calendar(FIRST_DAY, N_DAYS)
    event_day = N_DAYS - 1
    excluded = np.zeros((options.sites, N_DAYS), dtype=bool)

    load_sites = min(options.sites, options.load_sites)
    load_seconds, loaded = time_load(cube[:load_sites], options.runs)

    result = caiso_10_in_10(cube, calendar, event_day, EVENT_SLOTS, excluded)
    seconds = median_seconds(
        lambda: caiso_10_in_10(cube, calendar, event_day, EVENT_SLOTS, excluded),
        options.runs,
    )
    loop_sites = min(options.sites, options.loop_sites)
    started = time.perf_counter()
    reference = per_site_loop(cube[:loop_sites], calendar, event_day, excluded)
    loop_per_site = (time.perf_counter() - started) / loop_sites

    report = {
        "seconds": round(seconds, 4),
        "load_seconds": round(load_seconds, 4),
        "readings": options.sites * N_DAYS * 96,
        "load_readings": load_sites * N_DAYS * 96,
        "sites": options.sites,
        "loop_ratio": round(loop_per_site * options.sites / seconds, 1),
        "loop_max_abs_diff_kwh": float(
            np.max(np.abs(reference - result.baseline_kwh[:loop_sites]))
        ),
        "cube_matches_long_format": bool(np.array_equal(loaded, cube[:load_sites])),
        "cpu_count": os.cpu_count(),
    }
    if options.caltrack:
        per_site = caltrack_seconds_per_site(cube, options.caltrack_sites)
        report["caltrack_seconds_per_site"] = per_site
        report["caltrack_ratio"] = round(per_site * options.sites / seconds, 1)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
