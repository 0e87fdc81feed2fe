"""A storm watch over the fleet: batteries stay full and each record names the alert."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from rich.console import Console
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from coflex.adapters.readers.weather import read_weather
from coflex.adapters.store.models import Device, EligibilityDecision, Participation
from coflex.services.demo import TERMS, DemoOptions, run_demo
from coflex.services.scenario import choose_scenario

TZ = "America/New_York"


def storm_watch(path: Path) -> Path:
    """A Severe Thunderstorm Watch over every site, from the event start to 2 h after."""
    weather = read_weather()
    scenario = choose_scenario(
        weather, TZ, max_heat_index_c=TERMS.limits.heat_index_suspend_c
    )
    lat, lon = weather.latitude, weather.longitude
    ring = [
        [lon - 0.5, lat - 0.5],
        [lon + 0.5, lat - 0.5],
        [lon + 0.5, lat + 0.5],
        [lon - 0.5, lat + 0.5],
        [lon - 0.5, lat - 0.5],
    ]
    feature = {
        "type": "Feature",
        "geometry": {"type": "Polygon", "coordinates": [ring]},
        "properties": {
            "id": "urn:oid:2.49.0.1.840.0.coflex-test-watch",
            "event": "Severe Thunderstorm Watch",
            "severity": "Severe",
            "status": "Actual",
            "messageType": "Alert",
            "onset": scenario.start.isoformat(),
            "ends": (scenario.end + timedelta(hours=2)).isoformat(),
        },
    }
    path.write_text(
        json.dumps({"type": "FeatureCollection", "features": [feature]}), encoding="utf-8"
    )
    return path


def test_storm_watch_holds_every_battery(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'storm.sqlite'}"
    options = DemoOptions(
        database_url=url,
        customers=60,
        seed=3,
        weather_path=None,
        timezone=TZ,
        output_dir=tmp_path / "out",
        override_share=0.0,
        target_kw=10.0,
        event_start_local=None,
        event_end_local=None,
        show_progress=False,
        weather_alerts_path=storm_watch(tmp_path / "alerts.geojson"),
    )
    summary = run_demo(options, console=Console(quiet=True))
    assert summary["safety_violations"] == 0

    engine = create_engine(url)
    with Session(engine) as session:
        event_id = summary["event_id"]
        batteries = set(session.scalars(select(Device.id).where(Device.kind == "battery")))
        storm_held = dict(
            session.execute(
                select(EligibilityDecision.device_id, EligibilityDecision.detail).where(
                    EligibilityDecision.event_id == event_id,
                    EligibilityDecision.reason == "forecast_severe_storm",
                    EligibilityDecision.device_id.is_not(None),
                )
            ).all()
        )
        dispatched = set(
            session.scalars(
                select(Participation.device_id).where(
                    Participation.event_id == event_id,
                    Participation.dispatched_at.is_not(None),
                )
            )
        )
    engine.dispose()

    assert batteries
    # Every battery at an otherwise eligible site is held, and none is dispatched.
    assert storm_held
    assert set(storm_held) <= batteries
    assert not dispatched & batteries
    assert all("Severe Thunderstorm Watch" in detail for detail in storm_held.values())
    assert dispatched, "the other devices still take part"
