"""A whole event over the MQTT broker at 127.0.0.1:1883, checked from the records.

The devices run in a simulator process behind the broker; the event must come
out exactly as with the in-process fleet, and a device that loses contact
mid-event must be released with the reason recorded.
"""

from __future__ import annotations

import socket
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from rich.console import Console
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from coflex.adapters.devices import mqtt_protocol as wire
from coflex.adapters.devices import mqtt_session
from coflex.adapters.devices.base import Action
from coflex.adapters.store.models import Participation
from coflex.adapters.store.models_devices import FailSafeAction
from coflex.services import demo_job
from coflex.services.demo import DemoOptions, run_demo


def broker_up() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 1883), 1).close()
        return True
    except OSError:
        return False


pytestmark = pytest.mark.skipif(
    not broker_up(), reason="no MQTT broker at 127.0.0.1:1883 (start mosquitto -d)"
)


def run(output: Path, devices: str) -> dict:
    options = DemoOptions(
        database_url=f"sqlite:///{output / 'coflex.sqlite'}",
        customers=30,
        seed=4,
        weather_path=None,
        timezone="America/New_York",
        output_dir=output,
        override_share=0.2,
        target_kw=None,
        event_start_local=None,
        event_end_local=None,
        devices=devices,
        show_progress=False,
    )
    return run_demo(options, console=Console(quiet=True))


def test_mqtt_event_matches_in_process(tmp_path: Path) -> None:
    over_mqtt = run(tmp_path / "mqtt", "mqtt")
    in_process = run(tmp_path / "simulated", "simulated")
    for key in ("delivered_kw", "true_reduction_kw", "dispatched", "overrides"):
        assert over_mqtt[key] == in_process[key], key
    assert over_mqtt["safety_violations"] == 0


def test_lost_contact_released_and_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A device whose status turns offline mid-event is released with the reason."""
    lost: list[int] = []

    def start_and_drop_two(fleet, kinds, url):  # type: ignore[no-untyped-def]
        simulation = mqtt_session.start_simulation(fleet, kinds, url)
        gateway = simulation.gateway
        send, advance = gateway.send, gateway.advance
        dispatched: list[int] = []
        steps = [0]

        def recording_send(commands, at):  # type: ignore[no-untyped-def]
            acks = send(commands, at)
            dispatched.extend(
                c.device_id
                for c, a in zip(commands, acks, strict=True)
                if a.accepted and c.action is Action.CURTAIL
            )
            return acks

        def dropping_advance(to):  # type: ignore[no-untyped-def]
            steps[0] += 1
            if steps[0] == 5:
                lost.extend(dispatched[:2])
                offline(gateway.settings.topic_prefix, lost)
            return advance(to)

        gateway.send = recording_send
        gateway.advance = dropping_advance
        return simulation

    monkeypatch.setattr(demo_job, "start_simulation", start_and_drop_two)
    summary = run(tmp_path, "mqtt")
    assert summary["safety_violations"] == 0
    engine = create_engine(f"sqlite:///{tmp_path / 'coflex.sqlite'}")
    with Session(engine) as session:
        rows = session.scalars(
            select(FailSafeAction).where(FailSafeAction.action == "released")
        ).all()
        reasons = session.scalars(
            select(Participation.release_reason).where(
                Participation.device_id.in_(lost),
                Participation.event_id == rows[0].event_id,
            )
        ).all()
    engine.dispose()
    assert len(lost) == 2
    assert sorted(row.device_id for row in rows) == sorted(lost)
    assert {row.fault for row in rows} == {"lost_contact"}
    assert reasons == ["lost_contact", "lost_contact"]


def offline(prefix: str, device_ids: list[int]) -> None:
    """Publish the status a device's last will carries when its link drops."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="test-will")
    client.connect("127.0.0.1", 1883)
    client.loop_start()
    for device_id in device_ids:
        topic = wire.device_topic(prefix, device_id, "status")
        client.publish(topic, wire.encode_status(False), 1, True).wait_for_publish(5)
    client.disconnect()
    client.loop_stop()
