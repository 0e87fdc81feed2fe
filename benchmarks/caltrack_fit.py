"""Time the opendsm CalTRACK DR model per meter (run inside .venv-caltrack).

Usage::

    benchmarks/.venv-caltrack/bin/python benchmarks/caltrack_fit.py SAMPLE.npz

SAMPLE.npz contains ``hourly_kwh`` [site, hour] and ``temperature_c`` [hour],
both starting 2026-06-01 00:00 America/New_York. The first fit is a warm-up
(numba compiles on first use) and is not timed. Prints one JSON line with
the median seconds per meter for data preparation plus fit.
"""

from __future__ import annotations

import json
import statistics
import sys
import time

import numpy as np
import pandas as pd
from opendsm.drmeter.models.caltrack import BaselineData, Model


def fit_one(hourly_kwh: np.ndarray, temperature_f: pd.Series) -> None:
    meter = pd.Series(hourly_kwh, index=temperature_f.index, name="observed")
    baseline = BaselineData.from_series(meter, temperature_f, is_electricity_data=True)
    Model().fit(baseline)


def main() -> None:
    sample = np.load(sys.argv[1])
    hourly = sample["hourly_kwh"]
    index = pd.date_range(
        "2026-06-01", periods=hourly.shape[1], freq="h", tz="America/New_York"
    )
    temperature_f = pd.Series(sample["temperature_c"] * 9 / 5 + 32, index=index)
    fit_one(hourly[0], temperature_f)

    times = []
    for site in range(hourly.shape[0]):
        started = time.perf_counter()
        fit_one(hourly[site], temperature_f)
        times.append(time.perf_counter() - started)
    print(
        json.dumps({"seconds_per_site": statistics.median(times), "sites": len(times)})
    )


if __name__ == "__main__":
    main()
