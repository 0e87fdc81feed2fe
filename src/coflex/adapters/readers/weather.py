"""Hourly weather from TMY3, TMY2 and EPW files, read with pvlib.

The reader maps each provider's columns onto one :class:`WeatherSeries` in UTC.
Typical-year files (TMY3, TMY2, and EPW files built from typical months) are
moved onto one calendar year, because their months come from different years.

Time convention: every format labels a row with the end of its hour (hour 1
to 24 in local standard time). Temperature and humidity are values at that
instant. Global horizontal irradiance is the energy of the hour that ends
there, so :meth:`WeatherSeries.at` places it at the middle of that hour.

The readers are ``read_tmy3``, ``read_tmy2`` and ``read_epw`` of pvlib 0.16.1.
"""

from __future__ import annotations

import calendar
import datetime as dt
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pvlib
from pvlib import iotools

from coflex.errors import WeatherFileError

BUNDLED_TMY3 = "723170TYA.CSV"
ACCEPTED_FORMATS = "a TMY3 (.csv), TMY2 (.tm2) or EPW (.epw) file"
MIN_DAYS = 60
# Times at most this far outside the file take the nearest value, because TMY
# rows start at 01:00 local standard time and a run may start at midnight.
EDGE_HOLD = np.timedelta64(3 * 3600, "s")
HALF_HOUR = np.timedelta64(1800, "s")
# EPW "data source" header words that mark a typical-year file.
TYPICAL_YEAR_MARKERS = ("TMY", "TYA", "IWEC", "CWEC", "TRY", "TMY3", "TMYX")


@dataclass(frozen=True)
class WeatherSeries:
    """Hourly weather at one station, in UTC.

    Attributes
    ----------
    station : str
        Station name from the file header.
    source : str
        The path read, or ``"pvlib:723170TYA.CSV"`` for the bundled default.
    latitude, longitude : float
        Station position [degrees north, degrees east].
    utc_offset_h : float
        The file's standard-time offset from UTC [h].
    times : numpy.ndarray
        ``datetime64[s]`` in UTC, hourly, strictly increasing; each is the end
        of its hour.
    temp_air_c : numpy.ndarray
        Dry-bulb temperature [°C].
    relative_humidity_pct : numpy.ndarray
        Relative humidity [%].
    ghi_w_m2 : numpy.ndarray
        Global horizontal irradiance averaged over the hour ending at the
        time [W/m²].
    """

    station: str
    source: str
    latitude: float
    longitude: float
    utc_offset_h: float
    times: np.ndarray
    temp_air_c: np.ndarray
    relative_humidity_pct: np.ndarray
    ghi_w_m2: np.ndarray

    @property
    def start(self) -> np.datetime64:
        """First time covered, an hour before the first label [UTC]."""
        return self.times[0] - np.timedelta64(3600, "s")

    @property
    def end(self) -> np.datetime64:
        """Last time covered [UTC]."""
        return self.times[-1]

    def at(self, times: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Interpolate the weather linearly at the given times.

        Parameters
        ----------
        times : numpy.ndarray
            ``datetime64`` times in UTC.

        Returns
        -------
        tuple of numpy.ndarray
            Temperature [°C], relative humidity [%] and global horizontal
            irradiance [W/m²] at each time.

        Raises
        ------
        WeatherFileError
            If a time lies more than 3 h outside the period of the file.
        """
        query = np.asarray(times, dtype="datetime64[s]")
        self._check_covers(query)

        seconds = (query - self.times[0]).astype(np.float64)
        label_s = (self.times - self.times[0]).astype(np.float64)
        temp_c = np.interp(seconds, label_s, self.temp_air_c)
        humidity_pct = np.interp(seconds, label_s, self.relative_humidity_pct)
        # Irradiance is an hourly mean, so it belongs at the middle of its hour.
        ghi = np.interp(seconds, label_s - HALF_HOUR.astype(np.float64), self.ghi_w_m2)
        return temp_c, humidity_pct, ghi

    def _check_covers(self, query: np.ndarray) -> None:
        if query.size == 0:
            return
        first, last = query.min(), query.max()
        if first < self.times[0] - EDGE_HOLD or last > self.times[-1] + EDGE_HOLD:
            raise WeatherFileError(
                f"{self.source}: weather covers {self.start} to {self.end} UTC, "
                f"but times from {first} to {last} were requested; choose times "
                "inside that period or give a weather file for that year",
                value=str(first),
                field="times",
            )


# Outside the records of surface air temperature (-89.2 °C at Vostok and
# 56.7 °C at Death Valley, WMO), a value is an error or is in the wrong unit.
TEMP_MIN_C = -90.0
TEMP_MAX_C = 57.0


def read_weather(path: Path | None = None, *, year: int = 2026) -> WeatherSeries:
    """Read hourly weather from a TMY3, TMY2 or EPW file.

    Parameters
    ----------
    path : Path or None
        The weather file. ``None`` reads pvlib's bundled TMY3 file for
        Greensboro, NC (``723170TYA.CSV``).
    year : int
        Calendar year that a typical-year file is mapped onto. An EPW file of
        one actual year keeps its own year.

    Returns
    -------
    WeatherSeries

    Raises
    ------
    WeatherFileError
        If the file is missing, unreadable, malformed, not hourly, shorter than
        60 days, or has missing or non-finite temperatures.
    """
    if path is None:
        path = Path(pvlib.__file__).parent / "data" / BUNDLED_TMY3
        source = f"pvlib:{BUNDLED_TMY3}"
    else:
        path = Path(path)
        source = str(path)
    if not path.is_file():
        raise WeatherFileError(
            f"{source}: weather file not found; give the path of {ACCEPTED_FORMATS}",
            value=source,
            field="path",
        )

    frame, meta = _read_frame(path, source, year)
    return _to_series(frame, meta, source)


def _read_by_format(path: Path, suffix: str, year: int) -> tuple[pd.DataFrame, dict]:
    if suffix == ".epw":
        return _read_epw(path, year)
    if suffix == ".tm2":
        return _read_tmy2(path, year)
    return iotools.read_tmy3(path, coerce_year=year, map_variables=True)


def _read_frame(path: Path, source: str, year: int) -> tuple[pd.DataFrame, dict]:
    """Read the file with the pvlib reader for its format, labelled at hour end."""
    suffix = path.suffix.lower()
    try:
        with warnings.catch_warnings():
            # A text cell in a numeric column is reported below as one line.
            warnings.simplefilter("ignore", pd.errors.DtypeWarning)
            frame, meta = _read_by_format(path, suffix, year)
    except (ValueError, KeyError, IndexError, TypeError, UnicodeDecodeError) as error:
        raise WeatherFileError(
            f"{source}: not a readable weather file ({type(error).__name__}: "
            f"{_first_line(error)}); give {ACCEPTED_FORMATS}",
            value=source,
            field="path",
        ) from error
    except pd.errors.ParserError as error:
        raise WeatherFileError(
            f"{source}: malformed weather file ({_first_line(error)}); give "
            f"{ACCEPTED_FORMATS}",
            value=source,
            field="path",
        ) from error
    return frame, meta


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else "no details"


def _read_epw(path: Path, year: int) -> tuple[pd.DataFrame, dict]:
    frame, meta = iotools.read_epw(path)
    source_kind = str(meta.get("data_type", "")).upper()
    typical = frame["year"].nunique() > 1 or any(
        marker in source_kind for marker in TYPICAL_YEAR_MARKERS
    )
    if typical:
        frame, meta = iotools.read_epw(path, coerce_year=year)
    # pvlib labels EPW rows with the start of the hour; move them to its end.
    frame.index = frame.index + pd.Timedelta(hours=1)
    meta = dict(meta, Name=meta.get("city", ""))
    return frame, meta


def _read_tmy2(path: Path, year: int) -> tuple[pd.DataFrame, dict]:
    """Read a TMY2 file; pvlib 0.16.1 gives temperatures in tenths of a degree."""
    raw, meta = iotools.read_tmy2(path)
    hour_end = pd.to_datetime(
        {"year": year, "month": raw["month"], "day": raw["day"]}
    ) + pd.to_timedelta(raw["hour"].to_numpy(), unit="h")
    zone = dt.timezone(dt.timedelta(hours=float(meta["TZ"])))
    index = pd.DatetimeIndex(hour_end).tz_localize(zone)
    frame = pd.DataFrame(
        {
            "temp_air": raw["DryBulb"].to_numpy() / 10.0,
            "relative_humidity": raw["RHum"].to_numpy(),
            "ghi": raw["GHI"].to_numpy(),
        },
        index=index,
    )
    return frame, dict(meta, Name=meta.get("City", ""))


def _to_series(frame: pd.DataFrame, meta: dict, source: str) -> WeatherSeries:
    missing = {"temp_air", "relative_humidity", "ghi"} - set(frame.columns)
    if missing:
        raise WeatherFileError(
            f"{source}: columns {sorted(missing)} not found; give {ACCEPTED_FORMATS}",
            value=source,
            field="path",
        )
    frame = _fill_leap_day(frame)
    times = frame.index.tz_convert("UTC").tz_localize(None).to_numpy("datetime64[s]")
    _check_hourly(times, source)

    try:
        temp_c = frame["temp_air"].to_numpy(np.float64)
    except (ValueError, TypeError) as error:
        raise WeatherFileError(
            f"{source}: the dry-bulb temperature column holds a value that is not a "
            f"number ({_first_line(error)}); correct the file",
            value=source,
            field="temp_air",
        ) from error
    bad = ~np.isfinite(temp_c)
    if bad.any():
        raise WeatherFileError(
            f"{source}: {int(bad.sum())} missing or non-finite temperatures, first at "
            f"{times[np.argmax(bad)]} UTC; give a file with a complete dry-bulb column",
            value=int(bad.sum()),
            field="temp_air",
        )
    outside = (temp_c < TEMP_MIN_C) | (temp_c > TEMP_MAX_C)
    if outside.any():
        first = int(np.argmax(outside))
        raise WeatherFileError(
            f"{source}: temperature {temp_c[first]:.1f} °C at {times[first]} UTC is "
            f"outside {TEMP_MIN_C:.0f} to {TEMP_MAX_C:.0f} °C; correct the file or its "
            "units (the column must be in °C)",
            value=float(temp_c[first]),
            field="temp_air",
        )
    humidity = _filled(frame["relative_humidity"].to_numpy(np.float64), 0.0, 100.0)
    ghi = _filled(frame["ghi"].to_numpy(np.float64), 0.0, np.inf)

    return WeatherSeries(
        station=str(meta.get("Name", "")).strip().strip('"'),
        source=source,
        latitude=float(meta["latitude"]),
        longitude=float(meta["longitude"]),
        utc_offset_h=float(meta["TZ"]),
        times=times,
        temp_air_c=temp_c,
        relative_humidity_pct=humidity,
        ghi_w_m2=ghi,
    )


def _filled(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """Interpolate over missing values and clip to the physical range."""
    bad = ~np.isfinite(values)
    if bad.all():
        return np.zeros_like(values)
    if bad.any():
        positions = np.arange(values.size)
        values = values.copy()
        values[bad] = np.interp(positions[bad], positions[~bad], values[~bad])
    return np.clip(values, low, high)


def _fill_leap_day(frame: pd.DataFrame) -> pd.DataFrame:
    """Insert 29 February as a copy of the day before when the year needs it.

    A typical-year file has 365 days, so mapping it onto a leap year leaves a
    25-hour step at the end of February. Copying the 24 hours before the step
    keeps a realistic daily cycle.
    """
    steps = np.diff(frame.index.to_numpy())
    gaps = np.flatnonzero(steps == np.timedelta64(25 * 3600, "s"))
    before = frame.index[gaps] if gaps.size else frame.index[:0]
    leap = [
        int(position)
        for position, time in zip(gaps, before, strict=True)
        if time.month == 2 and calendar.isleap(time.year) and position >= 23
    ]
    if len(leap) != 1:
        return frame
    position = leap[0]
    copy = frame.iloc[position - 23 : position + 1].copy()
    copy.index = copy.index + pd.Timedelta(days=1)
    return pd.concat([frame.iloc[: position + 1], copy, frame.iloc[position + 1 :]])


def _check_hourly(times: np.ndarray, source: str) -> None:
    steps_s = np.diff(times).astype(np.int64)
    if steps_s.size == 0 or (steps_s <= 0).any():
        raise WeatherFileError(
            f"{source}: times are not strictly increasing; give {ACCEPTED_FORMATS} "
            "with one row an hour in time order",
            value=source,
            field="times",
        )
    values, counts = np.unique(steps_s, return_counts=True)
    usual_s = int(values[np.argmax(counts)])
    if usual_s != 3600:
        raise WeatherFileError(
            f"{source}: found {_describe_step(usual_s)} steps; give an hourly TMY3, "
            "TMY2 or EPW file",
            value=usual_s,
            field="interval_s",
        )
    span_days = times.size / 24
    if span_days < MIN_DAYS:
        raise WeatherFileError(
            f"{source}: covers {span_days:.1f} days; give a file of at least "
            f"{MIN_DAYS} days (a whole typical year is best)",
            value=round(span_days, 1),
            field="times",
        )
    if not (steps_s == 3600).all():
        position = int(np.argmax(steps_s != 3600))
        odd_s = int(steps_s[position])
        raise WeatherFileError(
            f"{source}: found a {_describe_step(odd_s)} step after "
            f"{times[position]} UTC; give an hourly TMY3, TMY2 or EPW file without "
            "gaps or repeated hours",
            value=odd_s,
            field="interval_s",
        )


def _describe_step(step_s: int) -> str:
    if step_s % 3600 == 0:
        return f"{step_s // 3600}-hour"
    if step_s % 60 == 0:
        return f"{step_s // 60}-minute"
    return f"{step_s}-second"


def heat_index_c(temp_c: np.ndarray, relative_humidity_pct: np.ndarray) -> np.ndarray:
    """Compute the NWS heat index with the Rothfusz regression.

    The simple Steadman formula is used where its mean with the temperature is
    below 80 °F. Elsewhere the Rothfusz regression applies, with the NWS
    adjustments for low and high humidity.

    Parameters
    ----------
    temp_c : array_like
        Dry-bulb temperature [°C].
    relative_humidity_pct : array_like
        Relative humidity [%].

    Returns
    -------
    numpy.ndarray
        Heat index [°C].

    References
    ----------
    NWS Weather Prediction Center, "The Heat Index Equation"; Rothfusz, L. P.
    (1990), NWS Technical Attachment SR 90-23.
    """
    temp_f = np.asarray(temp_c, dtype=np.float64) * 1.8 + 32.0
    rh = np.asarray(relative_humidity_pct, dtype=np.float64)
    temp_f, rh = np.broadcast_arrays(temp_f, rh)

    simple_f = 0.5 * (temp_f + 61.0 + (temp_f - 68.0) * 1.2 + rh * 0.094)
    simple_f = 0.5 * (simple_f + temp_f)

    full_f = (
        -42.379
        + 2.04901523 * temp_f
        + 10.14333127 * rh
        - 0.22475541 * temp_f * rh
        - 0.00683783 * temp_f**2
        - 0.05481717 * rh**2
        + 0.00122874 * temp_f**2 * rh
        + 0.00085282 * temp_f * rh**2
        - 0.00000199 * temp_f**2 * rh**2
    )
    dry = (rh < 13.0) & (temp_f >= 80.0) & (temp_f <= 112.0)
    dry_term = np.sqrt(np.clip(17.0 - np.abs(temp_f - 95.0), 0.0, None) / 17.0)
    full_f = np.where(dry, full_f - (13.0 - rh) / 4.0 * dry_term, full_f)
    humid = (rh > 85.0) & (temp_f >= 80.0) & (temp_f <= 87.0)
    full_f = np.where(
        humid, full_f + (rh - 85.0) / 10.0 * (87.0 - temp_f) / 5.0, full_f
    )

    heat_index_f = np.where(simple_f >= 80.0, full_f, simple_f)
    return (heat_index_f - 32.0) / 1.8
