"""The runner releases a thermostat whose indoor temperature drifts too fast."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Console
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from coflex.adapters.store.models import Device, DeviceCommand, SafetyRelease
from coflex.domain.operations import watchdog
from coflex.services.demo import DemoOptions, run_demo


def test_fast_drift_releases_thermostats(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A limit far below ASHRAE 55's, so that the demo's ordinary setpoint
    # offsets cross it within the first quarter hour.
    monkeypatch.setattr(watchdog, "DRIFT_LIMITS_C", ((900.0, 0.3),))
    url = f"sqlite:///{tmp_path / 'drift.sqlite'}"
    options = DemoOptions(
        database_url=url,
        customers=40,
        seed=2,
        weather_path=None,
        timezone="America/New_York",
        output_dir=tmp_path / "out",
        override_share=0.0,
        target_kw=None,
        event_start_local=None,
        event_end_local=None,
        show_progress=False,
    )
    summary = run_demo(options, console=Console(quiet=True))
    engine = create_engine(url)
    with Session(engine) as session:
        releases = session.execute(
            select(SafetyRelease, Device.kind)
            .join(Device, Device.id == SafetyRelease.device_id)
            .where(SafetyRelease.reason == "indoor_temperature_drift")
        ).all()
        restored = set(
            session.scalars(
                select(DeviceCommand.device_id).where(
                    DeviceCommand.reason == "indoor_temperature_drift",
                    DeviceCommand.action == "restore",
                )
            )
        )
    engine.dispose()

    assert releases
    assert all(kind == "hvac" for _, kind in releases)
    assert all(row.limit_value == 0.3 for row, _ in releases)
    assert {row.device_id for row, _ in releases} <= restored
    assert summary["safety_violations"] == 0
