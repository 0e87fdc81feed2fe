"""Weather reader: pvlib formats, error messages and the NWS heat index."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pvlib
import pytest

from coflex.adapters.readers.weather import heat_index_c, read_weather
from coflex.errors import WeatherFileError

PVLIB_DATA = Path(pvlib.__file__).parent / "data"


@pytest.fixture(scope="module")
def bundled():
    return read_weather()


def test_bundled_file_has_8760_hours(bundled):
    assert bundled.times.size == 8760


def test_bundled_file_names_station(bundled):
    assert bundled.station == "GREENSBORO PIEDMONT TRIAD INT"
    assert bundled.source == "pvlib:723170TYA.CSV"


def test_bundled_file_in_utc(bundled):
    # Hour ending 01:00 EST on 1 January is 06:00 UTC.
    assert bundled.times[0] == np.datetime64("2026-01-01T06:00")
    assert bundled.utc_offset_h == -5.0


def test_bundled_hottest_hour_plausible(bundled):
    hottest = int(np.argmax(bundled.temp_air_c))
    month = bundled.times[hottest].astype("datetime64[M]").astype(int) % 12 + 1
    assert 33.0 <= bundled.temp_air_c[hottest] <= 40.0
    assert month in (6, 7, 8)


def test_bundled_hourly_increasing(bundled):
    assert (np.diff(bundled.times).astype(np.int64) == 3600).all()


def test_interpolation_at_label(bundled):
    temp_c, humidity, _ = bundled.at(bundled.times[100:101])
    assert temp_c[0] == bundled.temp_air_c[100]
    assert humidity[0] == bundled.relative_humidity_pct[100]


def test_interpolation_halfway(bundled):
    halfway = bundled.times[100] + np.timedelta64(1800, "s")
    temp_c, _, _ = bundled.at(np.array([halfway]))
    expected = 0.5 * (bundled.temp_air_c[100] + bundled.temp_air_c[101])
    assert temp_c[0] == pytest.approx(expected)


def test_ghi_centred_on_hour(bundled):
    # The mean of the hour ending at label 101 belongs to its middle.
    middle = bundled.times[101] - np.timedelta64(1800, "s")
    _, _, ghi = bundled.at(np.array([middle]))
    assert ghi[0] == pytest.approx(bundled.ghi_w_m2[101])


def test_times_outside_file_rejected(bundled):
    with pytest.raises(WeatherFileError, match="choose times inside"):
        bundled.at(np.array([np.datetime64("2030-01-01T00:00")]))


def test_leap_year_gets_feb_29():
    weather = read_weather(year=2028)
    assert weather.times.size == 8784
    assert (np.diff(weather.times).astype(np.int64) == 3600).all()


def test_tmy2_reads_in_degrees():
    weather = read_weather(PVLIB_DATA / "12839.tm2")
    assert weather.station == "MIAMI"
    assert weather.times.size == 8760
    assert 28.0 <= weather.temp_air_c.max() <= 38.0


def _write_epw(path: Path, bundled, data_type: str, year_column: np.ndarray) -> None:
    local = pd.DatetimeIndex(bundled.times).tz_localize("UTC").tz_convert("Etc/GMT+5")
    hour_start = local - pd.Timedelta(hours=1)
    lines = [
        f"LOCATION,Greensboro,NC,USA,{data_type},723170,36.1,-79.95,-5.0,273.0",
        "DESIGN CONDITIONS,0",
        "TYPICAL/EXTREME PERIODS,0",
        "GROUND TEMPERATURES,0",
        "HOLIDAYS/DAYLIGHT SAVINGS,No,0,0,0",
        "COMMENTS 1,written by the coflex tests",
        "COMMENTS 2,",
        "DATA PERIODS,1,1,Data,Sunday,1/1,12/31",
    ]
    for i, stamp in enumerate(hour_start):
        fields = [
            str(year_column[i]),
            str(stamp.month),
            str(stamp.day),
            str(stamp.hour + 1),
        ]
        fields += ["60", "?9?9?9?9E0?9?9?9?9?9?9?9?9?9?9?9?9?9?9?9*9*9?9?9?9"]
        fields += [
            f"{bundled.temp_air_c[i]:.1f}",
            "10.0",
            f"{bundled.relative_humidity_pct[i]:.0f}",
        ]
        fields += ["100000", "0", "0", "0", f"{bundled.ghi_w_m2[i]:.0f}", "0", "0"]
        fields += ["0"] * 19
        lines.append(",".join(fields))
    path.write_text("\n".join(lines) + "\n")


def test_epw_typical_year_coerced(tmp_path, bundled):
    path = tmp_path / "greensboro.epw"
    years = np.where(np.arange(8760) < 4000, 1991, 2004)
    _write_epw(path, bundled, "TMY3", years)
    weather = read_weather(path, year=2026)
    assert weather.times[0] == np.datetime64("2026-01-01T06:00")
    assert weather.temp_air_c == pytest.approx(bundled.temp_air_c)


def test_epw_actual_year_kept(tmp_path, bundled):
    path = tmp_path / "actual.epw"
    _write_epw(path, bundled, "AMY", np.full(8760, 2019))
    weather = read_weather(path, year=2026)
    assert weather.times[0] == np.datetime64("2019-01-01T06:00")


def test_missing_file_names_path(tmp_path):
    path = tmp_path / "nowhere.csv"
    with pytest.raises(WeatherFileError, match="not found") as caught:
        read_weather(path)
    assert str(path) in caught.value.message


def test_malformed_file_lists_formats(tmp_path):
    path = tmp_path / "broken.csv"
    path.write_text("this is,not\na weather,file\n")
    with pytest.raises(WeatherFileError) as caught:
        read_weather(path)
    assert str(path) in caught.value.message
    assert "TMY3" in caught.value.message
    assert "\n" not in caught.value.message


def _write_tmy3(path: Path, frame: pd.DataFrame, header: str) -> None:
    path.write_text(header + frame.to_csv(index=False))


def _bundled_tmy3_parts() -> tuple[str, pd.DataFrame]:
    text = (PVLIB_DATA / "723170TYA.CSV").read_text()
    header = text.split("\n", 1)[0] + "\n"
    frame = pd.read_csv(PVLIB_DATA / "723170TYA.CSV", skiprows=1)
    return header, frame


def test_half_hourly_file_rejected(tmp_path):
    header, frame = _bundled_tmy3_parts()
    half = frame.iloc[: 24 * 90].copy()
    stamps = pd.Timestamp("2020-01-01 00:30") + pd.to_timedelta(
        np.arange(len(half)) * 30, "min"
    )
    half["Date (MM/DD/YYYY)"] = stamps.strftime("%m/%d/%Y")
    half["Time (HH:MM)"] = stamps.strftime("%H:%M")
    path = tmp_path / "half-hourly.csv"
    _write_tmy3(path, half, header)
    with pytest.raises(WeatherFileError, match="found 30-minute steps") as caught:
        read_weather(path)
    assert "hourly TMY3, TMY2 or EPW" in caught.value.message


def test_short_file_rejected(tmp_path):
    header, frame = _bundled_tmy3_parts()
    path = tmp_path / "short.csv"
    _write_tmy3(path, frame.iloc[: 24 * 30], header)
    with pytest.raises(WeatherFileError, match="at least 60 days"):
        read_weather(path)


def test_missing_temperature_rejected(tmp_path):
    header, frame = _bundled_tmy3_parts()
    frame.loc[500, "Dry-bulb (C)"] = np.nan
    path = tmp_path / "gap.csv"
    _write_tmy3(path, frame, header)
    with pytest.raises(WeatherFileError, match="non-finite temperatures"):
        read_weather(path)


@pytest.mark.parametrize(
    ("temp_f", "humidity_pct", "chart_f"),
    [
        (90.0, 60.0, 100.0),
        (100.0, 40.0, 109.0),
        (80.0, 40.0, 80.0),
        (86.0, 90.0, 105.0),
        (96.0, 65.0, 121.0),
    ],
)
def test_heat_index_matches_nws_chart(temp_f, humidity_pct, chart_f):
    heat_index_f = heat_index_c((temp_f - 32.0) / 1.8, humidity_pct) * 1.8 + 32.0
    assert heat_index_f == pytest.approx(chart_f, abs=1.5)


def test_heat_index_mild_air_near_temperature():
    assert heat_index_c(20.0, 50.0) == pytest.approx(19.7, abs=0.5)


def test_heat_index_vectorised():
    result = heat_index_c(np.array([25.0, 35.0]), np.array([50.0, 50.0]))
    assert result.shape == (2,)
