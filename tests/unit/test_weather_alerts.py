"""NWS alerts: both published forms, site placement, and the devices they hold back."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from coflex.adapters.readers.weather_alerts import WeatherAlertError, read_weather_alerts
from coflex.domain.fleet import DeviceKind, ExclusionReason, HvacMode
from coflex.domain.operations.eligibility import decide_device, decide_site
from coflex.domain.operations.weather_alerts import (
    STORM_LOOKAHEAD,
    Hazard,
    Level,
    WeatherAlert,
    alerts_for_site,
    unlocated,
)
from test_eligibility import END, START, standing

DATA = Path(__file__).parents[1] / "data"
GREENSBORO = (36.07, -79.79)
CHARLOTTE = (35.23, -80.84)


def test_geojson_actual_alerts_in_lat_lon() -> None:
    alerts = read_weather_alerts(DATA / "nws-alerts.geojson")
    assert [a.event for a in alerts] == ["Severe Thunderstorm Watch", "Heat Advisory"]
    watch, advisory = alerts
    # GeoJSON writes [longitude, latitude]; the reader turns each into (lat, lon).
    assert watch.polygons[0][0] == (35.80, -80.30)
    assert watch.covers(*GREENSBORO)
    assert not watch.covers(*CHARLOTTE)
    assert watch.onset == datetime(2026, 7, 21, 17, 5, tzinfo=UTC)
    assert watch.ends == datetime(2026, 7, 22, 1, 0, tzinfo=UTC)  # "ends", not "expires"
    assert not advisory.located
    assert advisory.zones == {"NCZ025"}
    assert unlocated(alerts) == [advisory]


def test_cap_feed_areas_and_cancellations() -> None:
    alerts = read_weather_alerts(DATA / "nws-alerts-cap.xml")
    assert [a.event for a in alerts] == ["Ice Storm Warning", "Extreme Cold Warning"]
    ice, cold = alerts
    assert ice.covers(*GREENSBORO)
    assert not ice.covers(*CHARLOTTE)
    assert ice.onset == datetime(2026, 1, 25, 9, 0, tzinfo=UTC)
    assert cold.onset == datetime(2026, 1, 24, 15, 0, tzinfo=UTC)  # from <effective>
    assert cold.covers(36.2, -79.79)  # about 14 km north of the circle's centre
    assert not cold.covers(36.4, -79.79)  # about 37 km north: outside the 25 km radius


def alert(event: str, onset: datetime, ends: datetime) -> WeatherAlert:
    ring = ((35.8, -80.3), (36.4, -80.3), (36.4, -79.2), (35.8, -79.2), (35.8, -80.3))
    return WeatherAlert("test", event, "Severe", onset, ends, polygons=(ring,))


def test_storm_lookahead_past_event_end() -> None:
    later = END + STORM_LOOKAHEAD - timedelta(hours=1)
    too_late = END + STORM_LOOKAHEAD + timedelta(hours=1)
    alerts = [
        alert("Hurricane Watch", later, later + timedelta(hours=12)),
        alert("Tornado Warning", too_late, too_late + timedelta(hours=1)),
        alert("Heat Advisory", END + timedelta(hours=1), END + timedelta(hours=5)),
        alert("Flood Warning", START, END),  # not a hazard the policy acts on
    ]
    found = alerts_for_site(alerts, *GREENSBORO, START, END)
    assert [(a.hazard, a.level, a.event) for a in found] == [
        (Hazard.STORM, Level.WATCH, "Hurricane Watch")
    ]
    assert alerts_for_site(alerts, *CHARLOTTE, START, END) == ()


def site_alerts(event: str) -> tuple:
    return alerts_for_site([alert(event, START, END)], *GREENSBORO, START, END)


def test_storm_alert_holds_batteries_only() -> None:
    stormy = standing(weather_alerts=site_alerts("Severe Thunderstorm Warning"))
    battery = decide_device(7, DeviceKind.BATTERY, None, stormy)
    assert battery.reason is ExclusionReason.STORM_HOLD
    assert "Severe Thunderstorm Warning" in battery.detail
    assert decide_device(8, DeviceKind.EV_CHARGER, None, stormy).eligible
    assert decide_device(9, DeviceKind.HVAC, HvacMode.COOLING, stormy).eligible
    assert decide_device(7, DeviceKind.BATTERY, None, standing()).eligible


def test_heat_alert_levels_hold_back() -> None:
    advisory = standing(weather_alerts=site_alerts("Heat Advisory"))
    assert decide_site(advisory, START, END).eligible
    vulnerable = replace(advisory, vulnerable_occupants=True)
    decision = decide_site(vulnerable, START, END)
    assert decision.reason is ExclusionReason.HEAT_CONDITION
    assert "Heat Advisory" in decision.detail
    assert decide_device(1, DeviceKind.HVAC, HvacMode.COOLING, advisory).eligible

    warning = standing(weather_alerts=site_alerts("Extreme Heat Warning"))
    cooling = decide_device(1, DeviceKind.HVAC, HvacMode.COOLING, warning)
    assert cooling.reason is ExclusionReason.HEAT_CONDITION
    assert decide_device(1, DeviceKind.WATER_HEATER, None, warning).eligible


def test_cold_warning_holds_heating() -> None:
    cold = standing(weather_alerts=site_alerts("Wind Chill Warning"))
    heating = decide_device(1, DeviceKind.HVAC, HvacMode.HEATING, cold)
    assert heating.reason is ExclusionReason.COLD_CONDITION
    vulnerable = replace(cold, vulnerable_occupants=True)
    assert decide_site(vulnerable, START, END).reason is ExclusionReason.COLD_CONDITION


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not an alert", "neither JSON nor XML"),
        ('{"type": "FeatureCollection", "features": [', "not valid JSON"),
        ('{"type": "Point"}', "no GeoJSON FeatureCollection"),
        (
            '{"type": "Feature", "geometry": null, "properties": {"event": "Heat '
            'Advisory", "onset": "2026-07-21T11:00:00-04:00"}}',
            "no ends time",
        ),
        (
            '{"type": "Feature", "geometry": null, "properties": {"event": "Heat '
            'Advisory", "onset": "2026-07-21T11:00:00", "ends": "2026-07-21T20:00:00-04:00"}}',
            "without a UTC offset",
        ),
        (
            '<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>x</identifier>'
            "<info><event>Tornado Warning</event><onset>2026-07-21T11:00:00-04:00</onset>"
            "<expires>2026-07-21T12:00:00-04:00</expires><area>"
            "<polygon>35.8,-80.3 36.4,-80.3 36.4,-79.2</polygon></area></info></alert>",
            "not closed",
        ),
        ("<alert>unclosed", "not well-formed XML"),
        ("[1, 2]", "JSON list"),
        (
            '{"type": "Feature", "geometry": {"type": "Polygon", "coordinates": '
            '[["-80", "35"], ["-79", "35"], ["-79", "36"], ["-80", "35"]]}, '
            '"properties": {"event": "Tornado Warning", "onset": '
            '"2026-07-21T11:00:00-04:00", "ends": "2026-07-21T12:00:00-04:00"}}',
            "not .longitude, latitude. number pairs",
        ),
        (
            '{"type": "Feature", "geometry": {"type": "MultiPolygon", "coordinates": '
            '[1, 2]}, "properties": {"event": "Tornado Warning", "onset": '
            '"2026-07-21T11:00:00-04:00", "ends": "2026-07-21T12:00:00-04:00"}}',
            "not .longitude, latitude. number pairs",
        ),
        (
            '{"type": "Feature", "geometry": null, "geocode": [1], "properties": '
            '{"event": "Heat Advisory", "geocode": ["NCZ025"], "onset": '
            '"2026-07-21T11:00:00-04:00", "ends": "2026-07-21T10:00:00-04:00"}}',
            "not after its onset",
        ),
        ("<feed/>", "no CAP 1.2 <alert>"),
    ],
)
def test_bad_alert_files_name_the_problem(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "alerts.txt"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(WeatherAlertError, match=message) as raised:
        read_weather_alerts(path)
    assert str(path) in str(raised.value)


def test_missing_alert_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(WeatherAlertError, match="does not exist"):
        read_weather_alerts(tmp_path / "none.geojson")
