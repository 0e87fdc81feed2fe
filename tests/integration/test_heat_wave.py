"""A heat wave: every vulnerable and protected site is left alone, with its reason.

The event is placed on the afternoon of the weather file with the highest heat
index, where the policy suspends cooling curtailment (NWS Extreme Heat Warning
level) and excludes sites with vulnerable occupants.
"""

from __future__ import annotations

from datetime import datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
from rich.console import Console
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from coflex.adapters.readers.weather import heat_index_c, read_weather
from coflex.adapters.store.models import (
    Device,
    EligibilityDecision,
    Participation,
    Site,
)
from coflex.services.demo import TERMS, DemoOptions, run_demo

TZ = "America/New_York"


def hottest_afternoon() -> datetime:
    weather = read_weather()
    index = heat_index_c(weather.temp_air_c, weather.relative_humidity_pct)
    local = [
        datetime.fromtimestamp(int(t), ZoneInfo(TZ))
        for t in weather.times.astype("datetime64[s]").astype(np.int64)
    ]
    afternoon = [
        i for i, at in enumerate(local) if 15 <= at.hour < 18 and at.month >= 3
    ]
    best = max(afternoon, key=lambda i: index[i])
    assert index[best] >= TERMS.limits.heat_index_suspend_c
    return datetime.combine(local[best].date(), time(15))


def test_heat_wave_protects_everyone(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'heat.sqlite'}"
    options = DemoOptions(
        database_url=url,
        customers=80,
        seed=5,
        weather_path=None,
        timezone=TZ,
        output_dir=tmp_path / "out",
        override_share=0.0,
        target_kw=None,
        event_start_local=hottest_afternoon(),
        event_end_local=None,
        show_progress=False,
    )
    summary = run_demo(options, console=Console(quiet=True))
    assert summary["excluded"].get("forecast_heat_condition", 0) > 0
    assert summary["safety_violations"] == 0

    engine = create_engine(url)
    with Session(engine) as session:
        event_id = summary["event_id"]
        dispatched = session.execute(
            select(Site.vulnerable_occupants, Site.medical_equipment, Device.kind)
            .join(Participation, Participation.site_id == Site.id)
            .join(Device, Device.id == Participation.device_id)
            .where(
                Participation.event_id == event_id,
                Participation.dispatched_at.is_not(None),
            )
        ).all()
        assert all(not vulnerable for vulnerable, _, _ in dispatched)
        assert all(kind != "hvac" for _, _, kind in dispatched)

        vulnerable_sites = set(
            session.scalars(select(Site.id).where(Site.vulnerable_occupants.is_(True)))
        )
        reasons = dict(
            session.execute(
                select(EligibilityDecision.site_id, EligibilityDecision.reason).where(
                    EligibilityDecision.event_id == event_id,
                    EligibilityDecision.device_id.is_(None),
                    EligibilityDecision.eligible.is_(False),
                )
            ).all()
        )
        assert vulnerable_sites
        assert vulnerable_sites <= set(reasons)
        hvac_vetoes = session.scalars(
            select(EligibilityDecision.reason).where(
                EligibilityDecision.event_id == event_id,
                EligibilityDecision.device_id.is_not(None),
            )
        ).all()
        assert "forecast_heat_condition" in hvac_vetoes
    engine.dispose()
    report = (tmp_path / "out" / "event-report.html").read_text()
    assert "Forecast heat condition" in report
