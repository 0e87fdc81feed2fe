"""The MQTT device gateway: the device adapter seam over a real MQTT broker.

:class:`MqttGateway` publishes each command to its device's own topic, waits
for the device's acknowledgement up to a timeout, and collects telemetry.
Every device has its own broker account, and the broker's access control
list confines it to its own topics (:mod:`coflex.adapters.devices.mqtt_protocol`).

The gateway fails closed. It rejects these messages, counts them in
:attr:`MqttGateway.rejections` and logs them, and they change no state: a
message on the topic of an unknown device, a payload that breaks the schema,
an acknowledgement of a command it did not send, and telemetry whose sequence
number does not increase. A repeated acknowledgement of a closed command is
counted in :attr:`MqttGateway.duplicates`.

A command without an acknowledgement, a device whose last
will reports it offline, and a broker that goes away all reach the event
runner as a :class:`~coflex.adapters.devices.base.ContactFault`, so the runner
releases the device and records why.

Commands, acknowledgements and telemetry travel at QoS 0. The acknowledgement
from the device, with the gateway's timeout, is the end-to-end delivery check,
and with clean sessions a QoS 1 message would not survive a reconnect anyway.
Status messages and last wills are retained and use QoS 1.

References
----------
OASIS, *MQTT Version 3.1.1* (2014), section 3.1.2.5 (Will Flag), section
3.3.1.3 (RETAIN) and section 4.3 (quality of service levels).
"""

from __future__ import annotations

import itertools
import logging
import ssl
import threading
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from coflex.adapters.devices import mqtt_protocol as wire
from coflex.adapters.devices.base import (
    Acknowledgement,
    Command,
    ContactFault,
    Telemetry,
)
from coflex.errors import DeviceGatewayError

logger = logging.getLogger(__name__)

DEFAULT_ACK_TIMEOUT_S = 5.0
DEFAULT_TELEMETRY_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class BrokerSettings:
    """Where and how to reach the MQTT broker.

    With ``ca_file`` set, the connection uses TLS, and the broker's certificate
    must chain to that CA and name ``host``. Without it the connection is plain
    TCP, which suits only a broker on the loopback interface.
    """

    host: str = "127.0.0.1"
    port: int = 1883
    username: str | None = None
    password: str | None = None
    ca_file: Path | None = None
    topic_prefix: str = "coflex"
    keepalive_s: int = 10


def new_client(
    settings: BrokerSettings,
    client_id: str,
    *,
    username: str | None,
    password: str | None,
    will: tuple[str, bytes] | None = None,
) -> mqtt.Client:
    """Build a paho client with credentials, TLS and a retained last will."""
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        clean_session=True,
        protocol=mqtt.MQTTv311,
    )
    if username is not None:
        client.username_pw_set(username, password)
    if settings.ca_file is not None:
        client.tls_set(
            ca_certs=str(settings.ca_file),
            cert_reqs=ssl.CERT_REQUIRED,
            tls_version=ssl.PROTOCOL_TLS_CLIENT,
        )
    if will is not None:
        client.will_set(will[0], will[1], qos=1, retain=True)
    # Commands and acknowledgements for a whole fleet go out at once.
    client.max_inflight_messages_set(0)
    client.max_queued_messages_set(0)
    return client


def _close_leaked_socket(error: BaseException) -> None:
    """Close the TLS socket that a failed handshake leaves open.

    NOTE: paho-mqtt 2.2.0 does not close the socket when ``do_handshake``
    raises in ``Client._ssl_wrap_socket``; it is found in the traceback.
    """
    trace = error.__traceback__
    while trace is not None:
        leaked = trace.tb_frame.f_locals.get("ssl_sock")
        if isinstance(leaked, ssl.SSLSocket):
            leaked.close()
        trace = trace.tb_next


class MqttGateway:
    """A fleet of devices reached through an MQTT broker.

    Parameters
    ----------
    settings
        The broker, the gateway's account and the topic prefix.
    device_ids, device_kinds
        The devices, in the order telemetry is returned.
    n_sites
        Number of sites in the simulated meter readings; 0 when no meter
        readings come over MQTT (site power is then NaN).
    drive_simulation
        ``True`` when the devices are simulated: :meth:`advance` publishes the
        new time on the clock topic. ``False`` for real devices: it waits for
        the wall clock.
    ack_timeout_s, telemetry_timeout_s
        How long to wait for acknowledgements and for telemetry [s].
    """

    def __init__(
        self,
        settings: BrokerSettings,
        device_ids: np.ndarray,
        device_kinds: Sequence[str],
        *,
        n_sites: int = 0,
        drive_simulation: bool = False,
        ack_timeout_s: float = DEFAULT_ACK_TIMEOUT_S,
        telemetry_timeout_s: float = DEFAULT_TELEMETRY_TIMEOUT_S,
    ) -> None:
        self.settings = settings
        self.device_ids = np.asarray(device_ids, dtype=np.int64)
        self.device_kinds = list(device_kinds)
        self.n_sites = n_sites
        self.drive_simulation = drive_simulation
        self.ack_timeout_s = ack_timeout_s
        self.telemetry_timeout_s = telemetry_timeout_s
        self.rejections: Counter[str] = Counter()
        self.duplicates = 0
        self._position = {int(d): i for i, d in enumerate(self.device_ids)}
        n = len(self.device_ids)
        self._online = np.zeros(n, dtype=bool)
        self._seq = np.full(n, -1, dtype=np.int64)
        self._readings = np.full((n, len(wire.READINGS)), np.nan)
        self._reading_at = np.full(n, -np.inf)
        self._meter_at = -np.inf
        self._meter_kw = np.full(n_sites, np.nan)
        self._pending: dict[str, int] = {}
        self._answered: dict[str, wire.AckMessage] = {}
        self._closed: set[str] = set()
        self._session = uuid.uuid4().hex[:12]
        self._counter = itertools.count()
        self._connected = False
        self._closing = False
        self._refused: str | None = None
        self._condition = threading.Condition()
        self._client = new_client(
            settings,
            f"{wire.GATEWAY_ACCOUNT}-{self._session}",
            username=settings.username,
            password=settings.password,
            will=(
                wire.gateway_status_topic(settings.topic_prefix),
                wire.encode_status(False),
            ),
        )
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message

    # -- connection ----------------------------------------------------------------

    def connect(self, timeout_s: float = 10.0) -> None:
        """Connect to the broker and subscribe to every device's topics.

        Raises
        ------
        DeviceGatewayError
            If the broker cannot be reached, rejects the credentials or the TLS
            handshake fails, within ``timeout_s`` [s].
        """
        where = f"{self.settings.host}:{self.settings.port}"
        try:
            self._client.connect(
                self.settings.host, self.settings.port, self.settings.keepalive_s
            )
        except (OSError, ssl.SSLError) as exc:
            _close_leaked_socket(exc)
            raise DeviceGatewayError(
                f"cannot reach the MQTT broker at {where}: {exc}; start the broker "
                "or give the right host, port and CA file",
                value=where,
            ) from exc
        self._client.loop_start()
        deadline = time.monotonic() + timeout_s
        with self._condition:
            while not self._connected and self._refused is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._condition.wait(left)
        if not self._connected:
            self._client.loop_stop()
            reason = self._refused or f"no answer within {timeout_s:g} s"
            raise DeviceGatewayError(
                f"the MQTT broker at {where} did not accept the gateway: {reason}; "
                "check the gateway account's user name and password",
                value=where,
            )

    def _on_connect(
        self, client: mqtt.Client, _: Any, __: Any, reason: Any, ___: Any
    ) -> None:
        if reason.is_failure:
            with self._condition:
                self._refused = str(reason)
                self._condition.notify_all()
            client.disconnect()
            return
        prefix = self.settings.topic_prefix
        topics = [(f"{prefix}/devices/+/{c}", 0) for c in ("ack", "telemetry")]
        topics.append((f"{prefix}/devices/+/status", 1))
        if self.n_sites:
            topics.append((wire.meter_topic(prefix), 0))
        client.subscribe(topics)
        client.publish(
            wire.gateway_status_topic(prefix), wire.encode_status(True), 1, True
        )
        with self._condition:
            self._connected = True
            self._condition.notify_all()
        logger.info("gateway connected to the MQTT broker at %s", self.settings.host)

    def _on_disconnect(
        self, client: mqtt.Client, _: Any, __: Any, reason: Any, ___: Any
    ) -> None:
        with self._condition:
            was = self._connected
            self._connected = False
            self._condition.notify_all()
        if was and not self._closing:
            logger.warning("gateway lost the MQTT broker: %s", reason)

    def close(self) -> None:
        """Tell devices the gateway is leaving, then disconnect."""
        self._closing = True
        if self._connected:
            info = self._client.publish(
                wire.gateway_status_topic(self.settings.topic_prefix),
                wire.encode_status(False),
                1,
                True,
            )
            info.wait_for_publish(2.0)
        self._client.disconnect()
        self._client.loop_stop()

    def is_online(self, device_id: int) -> bool:
        """Return True if the device's last status reported it online."""
        position = self._position.get(device_id)
        return position is not None and bool(self._online[position])

    def wait_online(self, timeout_s: float) -> np.ndarray:
        """Wait until every device reports online; return the ids still offline."""
        deadline = time.monotonic() + timeout_s
        with self._condition:
            while not self._online.all():
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._condition.wait(left)
            return self.device_ids[~self._online]

    # -- incoming messages ---------------------------------------------------------

    def _reject(self, reason: str, topic: str) -> None:
        self.rejections[reason] += 1
        count = self.rejections[reason]
        if count == 1 or count % 1000 == 0:
            logger.warning(
                "gateway rejected a message on %s (%s), %d so far", topic, reason, count
            )

    def _on_message(self, _: mqtt.Client, __: Any, message: mqtt.MQTTMessage) -> None:
        topic = message.topic
        prefix = self.settings.topic_prefix
        try:
            if topic == wire.meter_topic(prefix):
                self._take_meter(message.payload)
                return
            device_id, channel = wire.parse_device_topic(prefix, topic)
            position = self._position.get(device_id)
            if position is None:
                self._reject("unknown device", topic)
                return
            if channel == "ack":
                self._take_ack(position, message.payload, topic)
            elif channel == "telemetry":
                self._take_telemetry(position, message.payload, topic)
            elif channel == "status":
                self._take_status(position, message.payload)
            else:
                self._reject(f"unexpected {channel} message", topic)
        except wire.MessageError as error:
            self._reject(f"invalid message: {error.message}"[:120], topic)
        except Exception:
            # An exception here would stop paho's network thread and with it
            # every acknowledgement, so it is logged and counted instead.
            logger.exception("gateway failed to handle a message on %s", topic)
            self.rejections["internal error"] += 1

    def _take_ack(self, position: int, payload: bytes, topic: str) -> None:
        ack = wire.decode_ack(payload)
        with self._condition:
            owner = self._pending.get(ack.command_id)
            if owner is None:
                if ack.command_id in self._closed:
                    self.duplicates += 1
                else:
                    self._reject("acknowledgement of an unknown command", topic)
                return
            if owner != position:
                self._reject("acknowledgement from another device", topic)
                return
            del self._pending[ack.command_id]
            self._answered[ack.command_id] = ack
            if not self._pending:
                self._condition.notify_all()

    def _take_telemetry(self, position: int, payload: bytes, topic: str) -> None:
        reading = wire.decode_telemetry(payload)
        with self._condition:
            if reading.seq <= self._seq[position]:
                self._reject("replayed or duplicated telemetry", topic)
                return
            self._seq[position] = reading.seq
            self._readings[position] = [reading.readings[n] for n in wire.READINGS]
            self._reading_at[position] = reading.at.timestamp()
            self._condition.notify_all()

    def _take_status(self, position: int, payload: bytes) -> None:
        # An empty retained payload clears the status when a device leaves.
        online = wire.decode_status(payload) if payload else False
        with self._condition:
            self._online[position] = online
            self._condition.notify_all()
        if not online:
            logger.warning(
                "device %d lost contact with the broker", self.device_ids[position]
            )

    def _take_meter(self, payload: bytes) -> None:
        at, powers = wire.decode_meter(payload, self.n_sites)
        with self._condition:
            self._meter_at = at.timestamp()
            self._meter_kw = np.array(powers)
            self._condition.notify_all()

    # -- the adapter protocol ------------------------------------------------------

    def send(self, commands: list[Command], at: datetime) -> list[Acknowledgement]:
        """Publish the commands and wait for each device's acknowledgement.

        A command to an unknown or offline device, or sent while the broker is
        unreachable, is not published and comes back not accepted with its
        fault. A command without an acknowledgement within ``ack_timeout_s``
        comes back with ``ContactFault.NO_ACKNOWLEDGEMENT``.
        """
        sent: dict[int, str] = {}
        early: dict[int, Acknowledgement] = {}
        for i, command in enumerate(commands):
            fault = self._publish(command, at, sent, i)
            if fault is not None:
                early[i] = Acknowledgement(
                    command.device_id, False, at, fault.value, fault
                )
        self._wait_for_acks(set(sent.values()))
        return [
            early[i] if i in early else self._acknowledgement(c, sent[i], at)
            for i, c in enumerate(commands)
        ]

    def _publish(
        self, command: Command, at: datetime, sent: dict[int, str], i: int
    ) -> ContactFault | None:
        position = self._position.get(command.device_id)
        if position is None:
            return ContactFault.UNKNOWN_DEVICE
        if not self._connected:
            return ContactFault.BROKER_UNAVAILABLE
        if not self._online[position]:
            return ContactFault.LOST_CONTACT
        command_id = f"{self._session}-{next(self._counter)}"
        with self._condition:
            self._pending[command_id] = position
        payload = wire.encode_command(
            wire.CommandMessage(
                command_id, command.action, command.value, at, command.until
            )
        )
        topic = wire.device_topic(
            self.settings.topic_prefix, command.device_id, "command"
        )
        info = self._client.publish(topic, payload, qos=0)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            with self._condition:
                del self._pending[command_id]
            return ContactFault.BROKER_UNAVAILABLE
        sent[i] = command_id
        return None

    def _wait_for_acks(self, command_ids: set[str]) -> None:
        deadline = time.monotonic() + self.ack_timeout_s
        with self._condition:
            while self._connected and command_ids & self._pending.keys():
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._condition.wait(left)
            for command_id in command_ids:
                self._pending.pop(command_id, None)
                self._closed.add(command_id)

    def _acknowledgement(
        self, command: Command, command_id: str, at: datetime
    ) -> Acknowledgement:
        ack = self._answered.pop(command_id, None)
        if ack is None:
            fault = (
                ContactFault.NO_ACKNOWLEDGEMENT
                if self._connected
                else ContactFault.BROKER_UNAVAILABLE
            )
            detail = f"no acknowledgement within {self.ack_timeout_s:g} s"
            return Acknowledgement(command.device_id, False, at, detail, fault)
        if not ack.accepted:
            return Acknowledgement(
                command.device_id,
                False,
                ack.at,
                ack.detail or "rejected by the device",
                ContactFault.COMMAND_REJECTED,
            )
        return Acknowledgement(command.device_id, True, ack.at, ack.detail)

    def advance(self, to: datetime) -> Telemetry:
        """Let time pass until ``to`` and return the readings taken then.

        Devices that are offline, or whose telemetry for ``to`` does not come
        within ``telemetry_timeout_s``, are listed in ``lost_contact``.
        """
        if self.drive_simulation:
            if self._connected:
                self._client.publish(
                    wire.clock_topic(self.settings.topic_prefix),
                    wire.encode_clock(to),
                    qos=1,
                )
        else:
            time.sleep(max(0.0, (to - datetime.now(UTC)).total_seconds()))
        self._wait_for_telemetry(to.timestamp())
        return self._telemetry(to)

    def _wait_for_telemetry(self, at_s: float) -> None:
        deadline = time.monotonic() + self.telemetry_timeout_s
        with self._condition:
            while self._connected:
                fresh = ~self._online | (self._reading_at >= at_s)
                if fresh.all() and (not self.n_sites or self._meter_at >= at_s):
                    return
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                self._condition.wait(left)

    def _telemetry(self, to: datetime) -> Telemetry:
        with self._condition:
            fresh = self._online & (self._reading_at >= to.timestamp())
            readings = np.where(fresh[:, None], self._readings, np.nan)
            lost: dict[int, ContactFault] = {}
            for position in np.flatnonzero(~fresh):
                device_id = int(self.device_ids[position])
                if not self._connected:
                    lost[device_id] = ContactFault.BROKER_UNAVAILABLE
                elif not self._online[position]:
                    lost[device_id] = ContactFault.LOST_CONTACT
                else:
                    lost[device_id] = ContactFault.TELEMETRY_MISSING
            meter_ok = self._connected and self._meter_at >= to.timestamp()
            site_kw = (
                self._meter_kw.copy() if meter_ok else np.full(self.n_sites, np.nan)
            )
        columns = {name: readings[:, j] for j, name in enumerate(wire.READINGS)}
        return Telemetry(
            at=to,
            device_ids=self.device_ids,
            power_kw=columns["power_kw"],
            indoor_temp_c=columns["indoor_temp_c"],
            battery_soc_fraction=columns["battery_soc_fraction"],
            tank_temp_c=columns["tank_temp_c"],
            ev_energy_needed_kwh=columns["ev_energy_needed_kwh"],
            site_power_kw=site_kw,
            site_ids=np.arange(self.n_sites),
            lost_contact=lost,
        )
