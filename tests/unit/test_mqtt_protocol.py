"""The MQTT wire format: topics and payload checks, without a broker."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta

import pytest

from coflex.adapters.devices import mqtt_protocol as wire
from coflex.adapters.devices.base import Action

AT = datetime(2026, 7, 21, 19, 0, tzinfo=UTC)


def test_device_topic_round_trip() -> None:
    topic = wire.device_topic("coflex/run-1", 42, "ack")
    assert wire.parse_device_topic("coflex/run-1", topic) == (42, "ack")


@pytest.mark.parametrize(
    "topic",
    [
        "coflex/devices/device-42/reboot",
        "coflex/devices/sensor-42/ack",
        "coflex/devices/device-4x/ack",
        "other/devices/device-42/ack",
        "coflex/devices/device-42/ack/extra",
    ],
)
def test_foreign_topic_rejected(topic: str) -> None:
    with pytest.raises(wire.MessageError):
        wire.parse_device_topic("coflex", topic)


def test_command_round_trip() -> None:
    sent = wire.CommandMessage("s-1", Action.CURTAIL, 1.5, AT)
    assert wire.decode_command(wire.encode_command(sent)) == sent


@pytest.mark.parametrize(
    "payload",
    [
        b"not json",
        b"[1, 2]",
        b'{"command_id": "c", "accepted": 1, "at": "2026-07-21T19:00:00+00:00"}',
        b'{"command_id": "c", "accepted": true, "at": "2026-07-21T19:00:00"}',
        b'{"command_id": 5, "accepted": true, "at": "2026-07-21T19:00:00+00:00"}',
    ],
)
def test_invalid_ack_rejected(payload: bytes) -> None:
    with pytest.raises(wire.MessageError):
        wire.decode_ack(payload)


def test_telemetry_null_is_nan() -> None:
    sent = wire.TelemetryMessage(3, AT, {"power_kw": 2.5})
    received = wire.decode_telemetry(wire.encode_telemetry(sent))
    assert received.readings["power_kw"] == 2.5
    assert math.isnan(received.readings["indoor_temp_c"])


def test_telemetry_bool_reading_rejected() -> None:
    payload = b'{"seq": 1, "at": "2026-07-21T19:00:00+00:00", "power_kw": true}'
    with pytest.raises(wire.MessageError):
        wire.decode_telemetry(payload)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("indoor_temp_c", 71.0),
        ("indoor_temp_c", -273.15),
        ("battery_soc_fraction", 1.2),
        ("tank_temp_c", 140.0),
        ("power_kw", 500.0),
        ("ev_energy_needed_kwh", -3.0),
    ],
)
def test_telemetry_out_of_range_rejected(name: str, value: float) -> None:
    sent = wire.TelemetryMessage(1, AT, {name: value})
    with pytest.raises(wire.MessageError, match="physical range") as raised:
        wire.decode_telemetry(wire.encode_telemetry(sent))
    assert name in str(raised.value)


def test_telemetry_range_edges_accepted() -> None:
    sent = wire.TelemetryMessage(1, AT, {"battery_soc_fraction": 1.0, "tank_temp_c": 0.0})
    received = wire.decode_telemetry(wire.encode_telemetry(sent))
    assert received.readings["battery_soc_fraction"] == 1.0


def test_acl_confines_devices() -> None:
    acl = wire.access_control_list("coflex")
    assert "pattern write coflex/devices/%u/ack" in acl
    assert "pattern read coflex/devices/%u/command" in acl


def test_command_carries_until() -> None:
    until = AT + timedelta(hours=2)
    sent = wire.CommandMessage("s-2", Action.CURTAIL, 1.5, AT, until)
    payload = wire.encode_command(sent)
    assert json.loads(payload)["until"] == until.isoformat()
    assert wire.decode_command(payload) == sent


def test_restore_has_no_until() -> None:
    sent = wire.CommandMessage("s-3", Action.RESTORE, None, AT)
    assert json.loads(wire.encode_command(sent))["until"] is None
    assert wire.decode_command(wire.encode_command(sent)).until is None
