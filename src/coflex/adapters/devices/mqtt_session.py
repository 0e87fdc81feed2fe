"""Run a simulated fleet as a separate MQTT device process behind the gateway.

The event runner talks to the :class:`~coflex.adapters.devices.mqtt_gateway.MqttGateway`
only; the devices live in a child process
(:mod:`coflex.adapters.devices.mqtt_devices`) that runs the same physical
models. When the session stops, the child hands the fleet back at its final
state, so the site meters can be read for the rest of the day.
"""

from __future__ import annotations

import json
import logging
import pickle
import signal
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlsplit

from coflex.adapters.devices import mqtt_protocol as wire
from coflex.adapters.devices.mosquitto import BrokerAccounts
from coflex.adapters.devices.mqtt_gateway import BrokerSettings, MqttGateway
from coflex.adapters.devices.simulated import SimulatedFleet
from coflex.errors import DeviceGatewayError, InputError

logger = logging.getLogger(__name__)


def parse_broker_url(url: str, *, topic_prefix: str = "coflex") -> BrokerSettings:
    """Read ``mqtt://host:port`` or ``mqtts://host:port?ca=PATH`` into settings.

    Raises
    ------
    InputError
        If the scheme is neither ``mqtt`` nor ``mqtts``, or ``mqtts`` has no CA.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        raise InputError(
            f"broker URL {url!r} is not valid: use mqtt://HOST:PORT or "
            "mqtts://HOST:PORT?ca=CA.pem",
            value=url,
            field="broker",
        )
    query = dict(p.split("=", 1) for p in parts.query.split("&") if "=" in p)
    ca = query.get("ca")
    if parts.scheme == "mqtts" and not ca:
        raise InputError(
            f"broker URL {url!r} uses TLS but names no CA file: add ?ca=PATH",
            value=url,
            field="broker",
        )
    return BrokerSettings(
        host=parts.hostname,
        port=parts.port or (8883 if parts.scheme == "mqtts" else 1883),
        username=parts.username,
        password=parts.password,
        ca_file=Path(ca) if ca else None,
        topic_prefix=topic_prefix,
    )


class MqttSimulation:
    """A device simulator process and the gateway that drives it.

    Parameters
    ----------
    fleet, device_kinds
        The simulated fleet at the moment the devices go live.
    settings
        The broker and topic prefix. The gateway uses its account, or the
        ``coflex-gateway`` account of ``accounts`` when given.
    accounts
        Per-device passwords, for a broker that checks them; ``None`` for a
        broker that admits anonymous clients.
    """

    def __init__(
        self,
        fleet: SimulatedFleet,
        device_kinds: list[str],
        settings: BrokerSettings,
        *,
        accounts: BrokerAccounts | None = None,
        ack_timeout_s: float = 10.0,
        telemetry_timeout_s: float = 30.0,
    ) -> None:
        self.fleet = fleet
        self.device_kinds = device_kinds
        self.settings = settings
        self.accounts = accounts
        self.ack_timeout_s = ack_timeout_s
        self.telemetry_timeout_s = telemetry_timeout_s
        self._folder = tempfile.TemporaryDirectory(prefix="coflex-mqtt-")
        self.process: subprocess.Popen[bytes] | None = None
        self._log: BinaryIO | None = None
        self.gateway: MqttGateway | None = None

    def start(self, timeout_s: float = 120.0) -> MqttGateway:
        """Start the device process, connect the gateway and wait for the devices.

        Raises
        ------
        DeviceGatewayError
            If the broker is unreachable or the devices do not come online.
        """
        folder = Path(self._folder.name)
        with (folder / "fleet.pickle").open("wb") as handle:
            pickle.dump((self.fleet, self.device_kinds), handle)
        accounts = folder / "accounts.json"
        accounts.touch(0o600)
        body = self.accounts.as_json() if self.accounts else {"devices": {}}
        accounts.write_text(json.dumps(body), encoding="utf-8")
        command = [
            sys.executable,
            "-m",
            "coflex.adapters.devices.mqtt_devices",
            "--fleet",
            str(folder / "fleet.pickle"),
            "--accounts",
            str(accounts),
            "--handback",
            str(folder / "handback.pickle"),
            "--host",
            self.settings.host,
            "--port",
            str(self.settings.port),
            "--prefix",
            self.settings.topic_prefix,
        ]
        if self.settings.ca_file is not None:
            command += ["--ca-file", str(self.settings.ca_file)]
        self._log = (folder / "devices.log").open("wb")
        self.process = subprocess.Popen(command, stderr=self._log)
        self.gateway = self._connect_gateway()
        offline = self.gateway.wait_online(timeout_s)
        if len(offline):
            self.stop()
            raise DeviceGatewayError(
                f"{len(offline)} of {len(self.fleet.device_id)} simulated devices did "
                f"not come online within {timeout_s:g} s; see {folder / 'devices.log'}",
                value=len(offline),
            )
        return self.gateway

    def _connect_gateway(self) -> MqttGateway:
        settings = self.settings
        if self.accounts is not None:
            settings = BrokerSettings(
                host=settings.host,
                port=settings.port,
                username=wire.GATEWAY_ACCOUNT,
                password=self.accounts.gateway,
                ca_file=settings.ca_file,
                topic_prefix=settings.topic_prefix,
            )
        gateway = MqttGateway(
            settings,
            self.fleet.device_id,
            self.device_kinds,
            n_sites=self.fleet.fleet.n_sites,
            drive_simulation=True,
            ack_timeout_s=self.ack_timeout_s,
            telemetry_timeout_s=self.telemetry_timeout_s,
        )
        try:
            gateway.connect()
        except DeviceGatewayError:
            self._end_process()
            raise
        return gateway

    def stop(self) -> SimulatedFleet:
        """Disconnect the gateway, stop the device process and take the fleet back.

        Returns the fleet at the device process's final state, or the fleet as
        it was handed over if the process left no state behind.
        """
        if self.gateway is not None:
            self.gateway.close()
        self._end_process()
        handback = Path(self._folder.name) / "handback.pickle"
        if not handback.exists():
            log = (Path(self._folder.name) / "devices.log").read_text(errors="replace")
            self._folder.cleanup()
            raise DeviceGatewayError(
                "the simulated device process ended without handing the fleet "
                f"back, so the sites' meters cannot be read: {log[-500:]}"
            )
        with handback.open("rb") as handle:
            self.fleet = pickle.load(handle)  # written by our own child process
        self._folder.cleanup()
        return self.fleet

    def _end_process(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        if self._log is not None:
            self._log.close()


def start_simulation(
    fleet: SimulatedFleet, device_kinds: list[str], broker_url: str
) -> MqttSimulation:
    """Put a simulated fleet behind the broker at ``broker_url`` for one event.

    The topics get a prefix of their own (``coflex/run-<random>``), so that
    several runs can share one broker.
    """
    prefix = f"coflex/run-{uuid.uuid4().hex[:10]}"
    simulation = MqttSimulation(
        fleet, device_kinds, parse_broker_url(broker_url, topic_prefix=prefix)
    )
    simulation.start()
    logger.info(
        "%d simulated devices online over MQTT under %s", len(fleet.device_id), prefix
    )
    return simulation
