"""The MQTT wire format between the coflex gateway and devices: topics and JSON.

Every device has its own broker account, named ``device-<device id>``, and its
own topics under ``<prefix>/devices/<account>/``:

===============  ===========  =================================================
topic            publisher    payload
===============  ===========  =================================================
``command``      gateway      ``{"id", "action", "value", "issued_at", "until"}``
``ack``          device       ``{"command_id", "accepted", "at", "detail"}``
``telemetry``    device       ``{"seq", "at", "power_kw", "indoor_temp_c", ...}``
``status``       device       ``{"state": "online" | "offline"}``, retained;
                              the broker publishes ``offline`` as the device's
                              last will when its connection is lost
===============  ===========  =================================================

The gateway publishes its own retained status on ``<prefix>/gateway/status``
with an ``offline`` last will, so that devices fall back to their customers'
schedules when the gateway is gone. A broker access control list lets each
account write only its own ``ack``, ``telemetry`` and ``status`` topics and
read only its own ``command`` topic (see :func:`access_control_list`).

A curtailment's ``until`` is when the device returns to its customer's own
schedule by itself, with or without a restore. A restore has ``until`` null.

Times are RFC 3339 strings with an offset. This module does no I/O; a payload
that fails a check raises :class:`MessageError` with the reason.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from coflex.adapters.devices.base import Action
from coflex.errors import InputError

CHANNELS = ("command", "ack", "telemetry", "status")
READINGS = (
    "power_kw",
    "indoor_temp_c",
    "battery_soc_fraction",
    "tank_temp_c",
    "ev_energy_needed_kwh",
)
# Readings outside these bounds come from a faulty sensor or a wrong unit, so
# the message is rejected and the device counts as without telemetry (the
# fail-safe then keeps a vulnerable site out of dispatch). Bounds are estimates:
# household devices stay within ±50 kW, and the largest EV packs on sale hold
# about 200 kWh.
PHYSICAL_RANGE = {
    "power_kw": (-50.0, 50.0),
    "indoor_temp_c": (-40.0, 60.0),
    "battery_soc_fraction": (0.0, 1.0),
    "tank_temp_c": (0.0, 100.0),
    "ev_energy_needed_kwh": (0.0, 250.0),
}
GATEWAY_ACCOUNT = "coflex-gateway"
SIMULATOR_ACCOUNT = "coflex-simulator"


class MessageError(InputError):
    """An MQTT message that is not valid JSON or breaks the message schema."""

    code = "invalid_device_message"


def device_account(device_id: int) -> str:
    """Return the broker account (user name and client id) of a device."""
    return f"device-{device_id}"


def device_topic(prefix: str, device_id: int, channel: str) -> str:
    return f"{prefix}/devices/{device_account(device_id)}/{channel}"


def gateway_status_topic(prefix: str) -> str:
    return f"{prefix}/gateway/status"


def clock_topic(prefix: str) -> str:
    """Return the topic on which the gateway drives the simulated devices' clock."""
    return f"{prefix}/simulation/clock"


def meter_topic(prefix: str) -> str:
    """Return the topic of the simulated sites' meter readings."""
    return f"{prefix}/simulation/meter"


def parse_device_topic(prefix: str, topic: str) -> tuple[int, str]:
    """Return the device id and channel of a device topic.

    Raises
    ------
    MessageError
        If the topic is not ``<prefix>/devices/device-<id>/<channel>``.
    """
    parts = topic.split("/")
    head = prefix.split("/")
    if (
        len(parts) != len(head) + 3
        or parts[: len(head)] != head
        or parts[len(head)] != "devices"
        or parts[-1] not in CHANNELS
        or not parts[-2].startswith("device-")
        or not parts[-2][7:].isdigit()
    ):
        raise MessageError(
            f"topic {topic!r} is not a coflex device topic: expected "
            f"{prefix}/devices/device-<id>/<{'|'.join(CHANNELS)}>",
            value=topic,
        )
    return int(parts[-2][7:]), parts[-1]


def access_control_list(prefix: str) -> str:
    """Return a Mosquitto ACL file that confines each device to its own topics.

    ``%u`` is replaced by the connecting account's user name, so a device
    account can neither read another device's commands nor publish
    acknowledgements, telemetry or status for it.
    """
    devices = f"{prefix}/devices"
    return "\n".join(
        [
            f"user {GATEWAY_ACCOUNT}",
            f"topic readwrite {prefix}/#",
            "",
            f"user {SIMULATOR_ACCOUNT}",
            f"topic read {clock_topic(prefix)}",
            f"topic read {gateway_status_topic(prefix)}",
            f"topic write {meter_topic(prefix)}",
            "",
            f"pattern read {devices}/%u/command",
            f"pattern read {gateway_status_topic(prefix)}",
            f"pattern write {devices}/%u/ack",
            f"pattern write {devices}/%u/telemetry",
            f"pattern readwrite {devices}/%u/status",
            "",
        ]
    )


# -- payloads ------------------------------------------------------------------------


@dataclass(frozen=True)
class CommandMessage:
    id: str
    action: Action
    value: float | None
    issued_at: datetime
    until: datetime | None = None


@dataclass(frozen=True)
class AckMessage:
    command_id: str
    accepted: bool
    at: datetime
    detail: str


@dataclass(frozen=True)
class TelemetryMessage:
    """One device's readings; a reading the device kind does not have is NaN."""

    seq: int
    at: datetime
    readings: dict[str, float]


def _load(payload: bytes) -> dict[str, Any]:
    try:
        body = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MessageError(f"payload is not JSON: {exc}", value=payload[:80]) from exc
    if not isinstance(body, dict):
        raise MessageError("payload is not a JSON object", value=payload[:80])
    return body


def _field(body: dict[str, Any], name: str, kinds: type | tuple[type, ...]) -> Any:
    value = body.get(name)
    # bool is a subclass of int in Python, but not a number in the schema.
    if not isinstance(value, kinds) or isinstance(value, bool) is not (kinds is bool):
        expected = getattr(kinds, "__name__", str(kinds))
        raise MessageError(
            f"field {name!r} is {value!r}: expected {expected}", value=value, field=name
        )
    return value


def _time(body: dict[str, Any], name: str) -> datetime:
    text = _field(body, name, str)
    try:
        at = datetime.fromisoformat(text)
    except ValueError as exc:
        raise MessageError(
            f"field {name!r} is {text!r}: expected an RFC 3339 time", value=text
        ) from exc
    if at.tzinfo is None:
        raise MessageError(
            f"field {name!r} is {text!r}: the time needs a UTC offset", value=text
        )
    return at


def _number(value: object, name: str) -> float:
    if value is None:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise MessageError(f"field {name!r} is {value!r}: expected a number or null")
    number = float(value)
    if not math.isfinite(number):
        raise MessageError(f"field {name!r} is {value!r}: expected a finite number")
    return number


def encode_command(message: CommandMessage) -> bytes:
    return json.dumps(
        {
            "id": message.id,
            "action": message.action.value,
            "value": message.value,
            "issued_at": message.issued_at.isoformat(),
            "until": message.until.isoformat() if message.until else None,
        }
    ).encode()


def decode_command(payload: bytes) -> CommandMessage:
    body = _load(payload)
    action = _field(body, "action", str)
    if action not in {a.value for a in Action}:
        raise MessageError(
            f"field 'action' is {action!r}: expected curtail or restore", value=action
        )
    value = body.get("value")
    return CommandMessage(
        id=_field(body, "id", str),
        action=Action(action),
        value=None if value is None else _number(value, "value"),
        issued_at=_time(body, "issued_at"),
        until=None if body.get("until") is None else _time(body, "until"),
    )


def encode_ack(message: AckMessage) -> bytes:
    return json.dumps(
        {
            "command_id": message.command_id,
            "accepted": message.accepted,
            "at": message.at.isoformat(),
            "detail": message.detail,
        }
    ).encode()


def decode_ack(payload: bytes) -> AckMessage:
    body = _load(payload)
    return AckMessage(
        command_id=_field(body, "command_id", str),
        accepted=_field(body, "accepted", bool),
        at=_time(body, "at"),
        detail=str(body.get("detail", ""))[:200],
    )


def encode_telemetry(message: TelemetryMessage) -> bytes:
    body: dict[str, object] = {"seq": message.seq, "at": message.at.isoformat()}
    for name in READINGS:
        value = message.readings.get(name, math.nan)
        body[name] = None if math.isnan(value) else value
    return json.dumps(body).encode()


def decode_telemetry(payload: bytes) -> TelemetryMessage:
    body = _load(payload)
    seq = _field(body, "seq", int)
    if seq < 0:
        raise MessageError(f"field 'seq' is {seq}: expected 0 or more", value=seq)
    readings = {name: _number(body.get(name), name) for name in READINGS}
    for name, value in readings.items():
        low, high = PHYSICAL_RANGE[name]
        if not (math.isnan(value) or low <= value <= high):
            raise MessageError(
                f"field {name!r} is {value!r}: outside the physical range {low:g} to "
                f"{high:g}; check the sensor and the unit",
                value=value,
            )
    return TelemetryMessage(seq=seq, at=_time(body, "at"), readings=readings)


def encode_status(online: bool) -> bytes:
    return json.dumps({"state": "online" if online else "offline"}).encode()


def decode_status(payload: bytes) -> bool:
    """Return True if a status payload reports the device online."""
    state = _field(_load(payload), "state", str)
    if state not in ("online", "offline"):
        raise MessageError(
            f"field 'state' is {state!r}: expected online or offline", value=state
        )
    return state == "online"


def encode_clock(at: datetime) -> bytes:
    return json.dumps({"at": at.isoformat()}).encode()


def decode_clock(payload: bytes) -> datetime:
    return _time(_load(payload), "at")


def encode_meter(at: datetime, site_power_kw: list[float]) -> bytes:
    return json.dumps({"at": at.isoformat(), "site_power_kw": site_power_kw}).encode()


def decode_meter(payload: bytes, n_sites: int) -> tuple[datetime, list[float]]:
    """Return the time and per-site power [kW] of a simulated meter reading."""
    body = _load(payload)
    powers = _field(body, "site_power_kw", list)
    if len(powers) != n_sites:
        raise MessageError(
            f"meter reading has {len(powers)} sites: expected {n_sites}",
            value=len(powers),
        )
    return _time(body, "at"), [_number(v, "site_power_kw") for v in powers]
