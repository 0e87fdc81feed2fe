"""A device simulator that speaks MQTT: the physical models behind real sockets.

:class:`DeviceHost` runs a :class:`~coflex.adapters.devices.simulated.SimulatedFleet`
and connects every one of its devices to the broker as its own MQTT client,
with its own account, its own topics and a retained ``offline`` last will.
Each device applies the commands it receives to the model, acknowledges them,
and publishes its readings whenever the gateway moves the simulation clock.
A device that loses the broker, and every device when the gateway's status
turns ``offline``, falls back to its customer's own schedule.

One thread drives all clients through a ``selectors`` loop (paho's external
event loop interface), so 10,000 devices need 10,000 sockets but no threads.

Run it as a process::

    python -m coflex.adapters.devices.mqtt_devices --fleet FLEET.pickle \\
        --accounts ACCOUNTS.json --handback OUT.pickle [--port 1883 ...]

On SIGTERM it takes the devices offline, clears their retained status and
writes the fleet, at its final state, to the handback file.
"""

from __future__ import annotations

import argparse
import json
import logging
import pickle
import selectors
import signal
import sys
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import paho.mqtt.client as mqtt

from coflex.adapters.devices import mqtt_protocol as wire
from coflex.adapters.devices.base import Action, Command
from coflex.adapters.devices.mqtt_gateway import BrokerSettings, new_client
from coflex.adapters.devices.simulated import SimulatedFleet, to_datetime
from coflex.domain.fleet import DeviceKind

logger = logging.getLogger(__name__)

# Command ids a device remembers, so that it acknowledges a repeated command
# again without applying it twice.
REMEMBERED_COMMANDS = 32
MISC_INTERVAL_S = 1.0


class _Device:
    __slots__ = ("device_id", "kind", "client", "connected", "seq", "answered")

    def __init__(self, device_id: int, kind: DeviceKind, client: mqtt.Client):
        self.device_id = device_id
        self.kind = kind
        self.client = client
        self.connected = False
        self.seq = 0
        self.answered: OrderedDict[str, bytes] = OrderedDict()


class DeviceHost:
    """Every device of a simulated fleet as its own MQTT client.

    Parameters
    ----------
    fleet
        The simulated fleet; its ``device_id`` order is kept.
    device_kinds
        The kind of each device, in the fleet's order.
    settings
        The broker and topic prefix; its account fields are not used.
    passwords
        The broker password of each device account, by device id.
    simulator_password
        The password of the simulator's own account, which receives the
        clock and publishes the sites' meter readings.
    """

    def __init__(
        self,
        fleet: SimulatedFleet,
        device_kinds: list[str],
        settings: BrokerSettings,
        passwords: Mapping[int, str],
        simulator_password: str | None,
    ) -> None:
        self.fleet = fleet
        self.settings = settings
        self.prefix = settings.topic_prefix
        self.selector = selectors.DefaultSelector()
        self.invalid_commands = 0
        self.devices: list[_Device] = []
        for device_id, kind in zip(fleet.device_id, device_kinds, strict=True):
            account = wire.device_account(int(device_id))
            client = new_client(
                settings,
                account,
                username=account,
                password=passwords.get(int(device_id)),
                will=(
                    wire.device_topic(self.prefix, int(device_id), "status"),
                    wire.encode_status(False),
                ),
            )
            device = _Device(int(device_id), DeviceKind(kind), client)
            self._wire_device(device)
            self.devices.append(device)
        self.control = new_client(
            settings,
            f"{wire.SIMULATOR_ACCOUNT}-{self.prefix.replace('/', '-')}",
            username=wire.SIMULATOR_ACCOUNT,
            password=simulator_password,
        )
        self.control_connected = False
        self._wire_loop(self.control)
        self.control.on_connect = self._on_control_connect
        self.control.on_message = self._on_control_message

    # -- paho's external event loop -------------------------------------------------

    def _wire_loop(self, client: mqtt.Client) -> None:
        selector = self.selector

        def opened(c: mqtt.Client, _: Any, sock: Any) -> None:
            selector.register(sock, selectors.EVENT_READ, c)

        def closed(c: mqtt.Client, _: Any, sock: Any) -> None:
            if sock in selector.get_map():
                selector.unregister(sock)

        client.on_socket_open = opened
        client.on_socket_close = closed

    def _flush(self, client: mqtt.Client) -> None:
        """Write a client's queued packets now; wait for the socket if it is full.

        Writing at once, in place of paho's register-write callbacks, saves
        two ``epoll_ctl`` calls per message on a loopback link that rarely
        fills.
        """
        if not client.want_write():
            return
        client.loop_write()
        sock = client.socket()
        if sock is None or sock not in self.selector.get_map():
            return
        events = selectors.EVENT_READ
        if client.want_write():
            events |= selectors.EVENT_WRITE
        if self.selector.get_key(sock).events != events:
            self.selector.modify(sock, events, client)

    def _wire_device(self, device: _Device) -> None:
        self._wire_loop(device.client)
        client = device.client

        def on_connect(c: mqtt.Client, _: Any, __: Any, reason: Any, ___: Any) -> None:
            if reason.is_failure:
                logger.error("broker rejected device %d: %s", device.device_id, reason)
                return
            device.connected = True
            c.subscribe(
                wire.device_topic(self.prefix, device.device_id, "command"), qos=0
            )
            c.publish(
                wire.device_topic(self.prefix, device.device_id, "status"),
                wire.encode_status(True),
                qos=1,
                retain=True,
            )

        def on_disconnect(
            c: mqtt.Client, _: Any, __: Any, reason: Any, ___: Any
        ) -> None:
            if device.connected:
                device.connected = False
                self._fall_back([device], f"lost the broker: {reason}")

        client.on_connect = on_connect
        client.on_disconnect = on_disconnect
        client.on_message = lambda c, _, m: self._on_command(device, m.payload)

    def connect(self, timeout_s: float = 60.0) -> int:
        """Connect every device and the simulator account; return how many connected.

        Devices the broker rejects stay offline, and the gateway reports them offline.
        """
        host, port = self.settings.host, self.settings.port
        self.control.connect(host, port, self.settings.keepalive_s)
        misc_at = time.monotonic()
        for i, device in enumerate(self.devices):
            try:
                device.client.connect(host, port, self.settings.keepalive_s)
            except OSError as exc:
                logger.error("device %d cannot connect: %s", device.device_id, exc)
            # Serve the clients already connected, so that a large fleet's
            # first devices read their CONNACKs and keep alive while the rest connect.
            if i % 100 == 99:
                self.poll(0)
                misc_at = self._keep_alive(misc_at)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.poll(0.1)
            misc_at = self._keep_alive(misc_at)
            if self.control_connected and all(d.connected for d in self.devices):
                break
        return sum(d.connected for d in self.devices)

    def _keep_alive(self, misc_at: float) -> float:
        """Send keep-alive pings once a second; return when they last went out."""
        if time.monotonic() - misc_at < MISC_INTERVAL_S:
            return misc_at
        self.control.loop_misc()
        for device in self.devices:
            device.client.loop_misc()
        return time.monotonic()

    def poll(self, timeout_s: float) -> None:
        """Serve the sockets that are ready within ``timeout_s`` [s]."""
        for key, mask in self.selector.select(timeout_s):
            client: mqtt.Client = key.data
            if mask & selectors.EVENT_READ:
                client.loop_read()
            self._flush(client)

    def serve(self, should_stop: Callable[[], bool]) -> None:
        """Run the event loop until ``should_stop`` returns True."""
        misc_at = time.monotonic()
        while not should_stop():
            self.poll(0.2)
            misc_at = self._keep_alive(misc_at)

    def close(self) -> None:
        """Clear every device's retained status and disconnect it cleanly."""
        for device in self.devices:
            if device.connected:
                device.connected = False
                device.client.publish(
                    wire.device_topic(self.prefix, device.device_id, "status"),
                    b"",
                    qos=1,
                    retain=True,
                )
                device.client.disconnect()
        self.control.disconnect()
        deadline = time.monotonic() + 5.0
        while self.selector.get_map() and time.monotonic() < deadline:
            self.poll(0.1)

    # -- device behaviour ----------------------------------------------------------

    def _on_command(self, device: _Device, payload: bytes) -> None:
        try:
            command = wire.decode_command(payload)
        except wire.MessageError as error:
            # Without a valid id there is nothing to acknowledge; the gateway's
            # timeout turns the silence into a recorded fail-safe.
            self.invalid_commands += 1
            logger.warning("device %d: %s", device.device_id, error.message)
            return
        ack_topic = wire.device_topic(self.prefix, device.device_id, "ack")
        repeated = device.answered.get(command.id)
        if repeated is not None:
            device.client.publish(ack_topic, repeated, qos=0)
            return
        self.fleet.send(
            [
                Command(
                    device.device_id,
                    device.kind,
                    command.action,
                    command.value,
                    "mqtt",
                    until=command.until,
                )
            ],
            command.issued_at,
        )
        ack = wire.encode_ack(
            wire.AckMessage(command.id, True, command.issued_at, "applied")
        )
        device.answered[command.id] = ack
        if len(device.answered) > REMEMBERED_COMMANDS:
            device.answered.popitem(last=False)
        device.client.publish(ack_topic, ack, qos=0)

    def _fall_back(self, devices: list[_Device], why: str) -> None:
        """Hand devices back to their customers' own schedules."""
        at = to_datetime(self.fleet.state.at)
        self.fleet.send(
            [Command(d.device_id, d.kind, Action.RESTORE, None, why) for d in devices],
            at,
        )
        logger.warning(
            "%d devices fell back to their own schedule: %s", len(devices), why
        )

    def _on_control_connect(
        self, c: mqtt.Client, _: Any, __: Any, reason: Any, ___: Any
    ) -> None:
        if reason.is_failure:
            logger.error("broker rejected the simulator account: %s", reason)
            return
        self.control_connected = True
        c.subscribe(
            [
                (wire.clock_topic(self.prefix), 1),
                (wire.gateway_status_topic(self.prefix), 1),
            ]
        )

    def _on_control_message(
        self, _: mqtt.Client, __: Any, message: mqtt.MQTTMessage
    ) -> None:
        try:
            if message.topic == wire.clock_topic(self.prefix):
                self._step_to(wire.decode_clock(message.payload))
            elif not message.payload or not wire.decode_status(message.payload):
                self._fall_back(self.devices, "the gateway is offline")
        except wire.MessageError as error:
            logger.warning("simulator: %s on %s", error.message, message.topic)

    def _step_to(self, to: datetime) -> None:
        telemetry = self.fleet.advance(to)
        at = telemetry.at
        columns = [getattr(telemetry, name) for name in wire.READINGS]
        for i, device in enumerate(self.devices):
            if not device.connected:
                continue
            device.seq += 1
            readings = {
                name: float(column[i])
                for name, column in zip(wire.READINGS, columns, strict=True)
            }
            device.client.publish(
                wire.device_topic(self.prefix, device.device_id, "telemetry"),
                wire.encode_telemetry(wire.TelemetryMessage(device.seq, at, readings)),
                qos=0,
            )
            self._flush(device.client)
        self.control.publish(
            wire.meter_topic(self.prefix),
            wire.encode_meter(at, [float(v) for v in telemetry.site_power_kw]),
            qos=1,
        )


def build_standalone_fleet(
    n_sites: int,
    seed: int,
    *,
    start_local: datetime | None = None,
    timezone: str = "America/New_York",
) -> tuple[SimulatedFleet, list[str]]:
    """Build a simulated fleet without a database, for benchmarks and tests.

    The sites take the Greensboro, NC typical-year weather that pvlib ships,
    the household load excerpt, and the default program's limits. Device ids
    run from 1 in kind order.

    Returns
    -------
    tuple
        The fleet and the kind of each device, in the fleet's order.
    """
    from coflex.adapters.readers.household import (
        assign_base_load,
        base_load_kw,
        load_household_load,
    )
    from coflex.adapters.readers.weather import read_weather
    from coflex.domain.programs import ProgramTerms
    from coflex.simulation import fleet as model

    zone = ZoneInfo(timezone)
    start = start_local or datetime(2026, 7, 21, 14, 0, tzinfo=zone)
    rng = np.random.default_rng(seed)
    weather = read_weather()
    load = load_household_load()
    fleet = model.build_fleet(n_sites, rng, latitude=weather.latitude)
    first_day: date = start.date() - timedelta(days=1)
    assignment = assign_base_load(load, n_sites, first_day, 2, rng)
    base = base_load_kw(load, assignment, first_day, 3)
    state = model.initial_state(
        fleet, np.datetime64(int(start.timestamp()), "s"), weather, timezone=timezone
    )
    kinds: list[str] = []
    model_index: list[int] = []
    for kind, params in (
        (DeviceKind.HVAC, fleet.hvac),
        (DeviceKind.BATTERY, fleet.battery),
        (DeviceKind.EV_CHARGER, fleet.ev),
        (DeviceKind.WATER_HEATER, fleet.water_heater),
    ):
        kinds += [kind.value] * params.site.size
        model_index += list(range(params.site.size))
    limits = ProgramTerms().limits
    simulated = SimulatedFleet(
        fleet,
        state,
        weather,
        timezone,
        np.arange(1, len(kinds) + 1, dtype=np.int64),
        kinds,
        np.array(model_index, dtype=np.int64),
        base,
        first_day,
        battery_reserve_fraction=np.full(n_sites, limits.battery_reserve_fraction),
        water_heater_min_c=np.full(n_sites, limits.water_heater_min_c),
        meter_from=start,
    )
    return simulated, kinds


def main(argv: list[str] | None = None) -> int:
    """Run the device simulator until SIGTERM, then hand the fleet back."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fleet", type=Path, required=True)
    parser.add_argument("--accounts", type=Path, required=True)
    parser.add_argument("--handback", type=Path, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=1883)
    parser.add_argument("--prefix", default="coflex")
    parser.add_argument("--ca-file", type=Path)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    with args.fleet.open("rb") as handle:
        fleet, kinds = pickle.load(handle)  # written by the parent coflex process
    accounts = json.loads(args.accounts.read_text(encoding="utf-8"))
    settings = BrokerSettings(
        host=args.host, port=args.port, ca_file=args.ca_file, topic_prefix=args.prefix
    )
    passwords = {int(k): v for k, v in accounts["devices"].items()}
    host = DeviceHost(fleet, kinds, settings, passwords, accounts.get("simulator"))
    stopping: list[int] = []
    signal.signal(signal.SIGTERM, lambda signum, _: stopping.append(signum))
    connected = host.connect()
    logger.info("%d of %d devices online", connected, len(host.devices))
    host.serve(lambda: bool(stopping))
    host.close()
    with args.handback.open("wb") as handle:
        pickle.dump(host.fleet, handle)
    return 0


if __name__ == "__main__":
    sys.exit(main())
