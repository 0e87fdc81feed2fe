"""The MQTT gateway against a real Mosquitto broker with accounts, an ACL and TLS.

Each test module run starts its own broker on a free loopback port, with a
password per device, the coflex ACL and a certificate from a CA made for the
run. A device simulator (the same physical models) serves the fleet's devices
from a thread; one extra device account, ``device-9999``, is driven by hand to
send what a faulty or hostile device would send.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path

import numpy as np
import paho.mqtt.client as mqtt
import pytest
from private_ca import make_authority

from coflex.adapters.devices import mqtt_protocol as wire
from coflex.adapters.devices.base import Action, Command, ContactFault
from coflex.adapters.devices.mosquitto import (
    BrokerAccounts,
    MosquittoProcess,
    TlsFiles,
    free_port,
    write_broker_files,
)
from coflex.adapters.devices.mqtt_devices import DeviceHost, build_standalone_fleet
from coflex.adapters.devices.mqtt_gateway import BrokerSettings, MqttGateway, new_client
from coflex.adapters.devices.simulated import SimulatedFleet, to_datetime
from coflex.errors import DeviceGatewayError

MANUAL = 9999


@dataclass
class Rig:
    settings: BrokerSettings  # the gateway's account
    accounts: BrokerAccounts
    broker: MosquittoProcess
    fleet: SimulatedFleet
    kinds: list[str]
    host: DeviceHost
    tmp: Path


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    fleet, kinds = build_standalone_fleet(4, seed=5)
    ids = [int(d) for d in fleet.device_id] + [MANUAL]
    accounts = BrokerAccounts.generate(ids)
    authority = make_authority(tmp_path / "ca")
    port = free_port()
    config = write_broker_files(
        tmp_path / "broker",
        port,
        accounts,
        tls=TlsFiles(authority.ca_file, authority.cert_file, authority.key_file),
    )
    broker = MosquittoProcess(config, port)
    broker.start()
    base = BrokerSettings(port=port, ca_file=authority.ca_file)
    host = DeviceHost(fleet, kinds, base, accounts.devices, accounts.simulator)
    host.connect(timeout_s=20)
    stop: list[bool] = []
    thread = threading.Thread(target=host.serve, args=(lambda: bool(stop),))
    thread.start()
    settings = replace(base, username=wire.GATEWAY_ACCOUNT, password=accounts.gateway)
    try:
        yield Rig(settings, accounts, broker, fleet, kinds, host, tmp_path)
    finally:
        stop.append(True)
        thread.join(10)
        broker.stop()


def gateway_for(rig: Rig, *, extra: bool = False, **options: float) -> MqttGateway:
    ids = list(rig.fleet.device_id) + ([MANUAL] if extra else [])
    kinds = rig.kinds + (["hvac"] if extra else [])
    gateway = MqttGateway(
        rig.settings,
        np.array(ids),
        kinds,
        n_sites=rig.fleet.fleet.n_sites,
        drive_simulation=True,
        **options,
    )
    gateway.connect()
    return gateway


def manual_device(rig: Rig, account: int = MANUAL) -> mqtt.Client:
    """Connect a hand-driven client with a device account and its last will."""
    client = new_client(
        rig.settings,
        wire.device_account(account),
        username=wire.device_account(account),
        password=rig.accounts.devices[account],
        will=(
            wire.device_topic(rig.settings.topic_prefix, account, "status"),
            wire.encode_status(False),
        ),
    )
    connected = threading.Event()
    client.on_connect = lambda *_: connected.set()
    client.connect(rig.settings.host, rig.settings.port)
    client.loop_start()
    assert connected.wait(10)
    return client


def publish(client: mqtt.Client, topic: str, payload: bytes) -> None:
    client.publish(topic, payload, qos=1).wait_for_publish(5)


def wait_for(condition, timeout_s: float = 5.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def curtail_all(rig: Rig) -> list[Command]:
    return [
        Command(int(d), k, Action.CURTAIL, 1.0 if k == "hvac" else 0.0, "test")
        for d, k in zip(rig.fleet.device_id, rig.kinds, strict=True)
    ]


def test_commands_acknowledged_over_tls(rig: Rig) -> None:
    gateway = gateway_for(rig)
    assert len(gateway.wait_online(10)) == 0
    at = to_datetime(rig.fleet.state.at)
    acks = gateway.send(curtail_all(rig), at)
    assert all(ack.accepted for ack in acks)
    telemetry = gateway.advance(at + timedelta(seconds=60))
    assert telemetry.lost_contact == {}
    hvac = np.array(rig.kinds) == "hvac"
    assert np.isfinite(telemetry.indoor_temp_c[hvac]).all()
    assert np.isfinite(telemetry.site_power_kw).all()
    assert (rig.host.fleet.hvac_offset == 1.0).all()
    gateway.close()


def test_wrong_password_refused(rig: Rig) -> None:
    settings = replace(rig.settings, password="not-the-password")
    gateway = MqttGateway(settings, rig.fleet.device_id, rig.kinds)
    with pytest.raises(DeviceGatewayError, match="did not accept"):
        gateway.connect(timeout_s=5)


def test_plain_tcp_to_tls_port_refused(rig: Rig) -> None:
    settings = replace(rig.settings, ca_file=None)
    gateway = MqttGateway(settings, rig.fleet.device_id, rig.kinds)
    with pytest.raises(DeviceGatewayError):
        gateway.connect(timeout_s=3)


def test_untrusted_certificate_refused(rig: Rig) -> None:
    other = make_authority(rig.tmp / "other-ca", "another CA")
    settings = replace(rig.settings, ca_file=other.ca_file)
    gateway = MqttGateway(settings, rig.fleet.device_id, rig.kinds)
    with pytest.raises(DeviceGatewayError, match="cannot reach"):
        gateway.connect(timeout_s=3)


def test_device_cannot_speak_for_another(rig: Rig) -> None:
    """The broker's ACL drops what one device account publishes on another's topics.

    Mosquitto 2.0.11 also disconnects a MQTT 3.1.1 client after a denied
    publish, so the offender's last will takes it out of any event.
    """
    gateway = gateway_for(rig)
    gateway.wait_online(10)
    victim = int(rig.fleet.device_id[0])
    attacker = manual_device(rig)
    prefix = rig.settings.topic_prefix
    forged = wire.encode_status(False)
    publish(attacker, wire.device_topic(prefix, victim, "status"), forged)
    assert wait_for(lambda: not attacker.is_connected())
    assert gateway.is_online(victim)
    attacker.loop_stop()
    gateway.close()


def test_unknown_device_rejected(rig: Rig) -> None:
    gateway = gateway_for(rig)
    insider = new_client(
        rig.settings,
        "insider",
        username=rig.settings.username,
        password=rig.settings.password,
    )
    insider.connect(rig.settings.host, rig.settings.port)
    insider.loop_start()
    topic = wire.device_topic(rig.settings.topic_prefix, 424242, "status")
    publish(insider, topic, wire.encode_status(True))
    assert wait_for(lambda: gateway.rejections["unknown device"] == 1)
    insider.loop_stop()
    gateway.close()


def test_schema_invalid_ack_rejected(rig: Rig) -> None:
    gateway = gateway_for(rig, extra=True)
    device = manual_device(rig)
    topic = wire.device_topic(rig.settings.topic_prefix, MANUAL, "ack")
    publish(device, topic, b'{"command_id": 7, "accepted": "yes"}')
    publish(device, topic, b"not json")
    assert wait_for(lambda: sum(gateway.rejections.values()) == 2)
    device.loop_stop()
    gateway.close()


def test_missing_ack_times_out(rig: Rig) -> None:
    gateway = gateway_for(rig, extra=True, ack_timeout_s=0.5)
    device = manual_device(rig)
    publish(
        device,
        wire.device_topic(rig.settings.topic_prefix, MANUAL, "status"),
        wire.encode_status(True),
    )
    assert wait_for(lambda: gateway.is_online(MANUAL))
    at = to_datetime(rig.fleet.state.at)
    [ack] = gateway.send([Command(MANUAL, "hvac", Action.CURTAIL, 1.0, "t")], at)
    assert not ack.accepted
    assert ack.fault is ContactFault.NO_ACKNOWLEDGEMENT
    device.loop_stop()
    gateway.close()


def test_replayed_messages_not_applied(rig: Rig) -> None:
    gateway = gateway_for(rig, extra=True)
    device = manual_device(rig)
    prefix = rig.settings.topic_prefix
    answered: list[bytes] = []

    def answer(client: mqtt.Client, _: object, message: mqtt.MQTTMessage) -> None:
        command = wire.decode_command(message.payload)
        ack = wire.encode_ack(wire.AckMessage(command.id, True, command.issued_at, ""))
        answered.append(ack)
        client.publish(wire.device_topic(prefix, MANUAL, "ack"), ack, qos=1)

    device.on_message = answer
    device.subscribe(wire.device_topic(prefix, MANUAL, "command"), qos=1)
    publish(
        device, wire.device_topic(prefix, MANUAL, "status"), wire.encode_status(True)
    )
    assert wait_for(lambda: gateway.is_online(MANUAL))
    at = to_datetime(rig.fleet.state.at)
    [ack] = gateway.send([Command(MANUAL, "hvac", Action.CURTAIL, 1.0, "t")], at)
    assert ack.accepted
    publish(device, wire.device_topic(prefix, MANUAL, "ack"), answered[0])
    assert wait_for(lambda: gateway.duplicates == 1)
    reading = wire.encode_telemetry(wire.TelemetryMessage(5, at, {"power_kw": 1.0}))
    publish(device, wire.device_topic(prefix, MANUAL, "telemetry"), reading)
    publish(device, wire.device_topic(prefix, MANUAL, "telemetry"), reading)
    assert wait_for(lambda: gateway.rejections["replayed or duplicated telemetry"] == 1)
    device.loop_stop()
    gateway.close()


def test_last_will_reports_lost_contact(rig: Rig) -> None:
    """MQTT 3.1.1 section 3.1.2.5: the broker publishes the will on a lost link."""
    gateway = gateway_for(rig, extra=True)
    device = manual_device(rig)
    prefix = rig.settings.topic_prefix
    publish(
        device, wire.device_topic(prefix, MANUAL, "status"), wire.encode_status(True)
    )
    assert wait_for(lambda: gateway.is_online(MANUAL))
    device.loop_stop()
    device.socket().shutdown(socket.SHUT_RDWR)  # the link drops, no DISCONNECT
    assert wait_for(lambda: not gateway.is_online(MANUAL))
    at = to_datetime(rig.fleet.state.at) + timedelta(seconds=60)
    telemetry = gateway.advance(at)
    assert telemetry.lost_contact == {MANUAL: ContactFault.LOST_CONTACT}
    [ack] = gateway.send([Command(MANUAL, "hvac", Action.CURTAIL, 1.0, "t")], at)
    assert ack.fault is ContactFault.LOST_CONTACT
    gateway.close()


def test_broker_gone_mid_event(rig: Rig) -> None:
    gateway = gateway_for(rig)
    gateway.wait_online(10)
    at = to_datetime(rig.fleet.state.at)
    assert all(ack.accepted for ack in gateway.send(curtail_all(rig), at))
    rig.broker.kill()
    assert wait_for(lambda: not gateway._connected)
    acks = gateway.send(curtail_all(rig), at)
    assert {ack.fault for ack in acks} == {ContactFault.BROKER_UNAVAILABLE}
    telemetry = gateway.advance(at + timedelta(seconds=60))
    assert set(telemetry.lost_contact.values()) == {ContactFault.BROKER_UNAVAILABLE}
    # Every simulated device noticed and fell back to its customer's schedule.
    assert wait_for(lambda: (rig.host.fleet.hvac_offset == 0.0).all())
    gateway.close()


def test_device_reverts_after_until(rig: Rig) -> None:
    """A curtailed device returns to its own schedule at ``until`` with no restore."""
    gateway = gateway_for(rig)
    assert len(gateway.wait_online(10)) == 0
    at = to_datetime(rig.fleet.state.at)
    kinds = zip(rig.fleet.device_id, rig.kinds, strict=True)
    hvac = [int(d) for d, k in kinds if k == "hvac"]
    device_id = hvac[0]
    _, i = rig.host.fleet._lookup[device_id]
    command = Command(
        device_id, "hvac", Action.CURTAIL, 1.5, "t", until=at + timedelta(seconds=120)
    )
    [ack] = gateway.send([command], at)
    assert ack.accepted
    gateway.advance(at + timedelta(seconds=60))
    assert rig.host.fleet.hvac_offset[i] == 1.5
    gateway.advance(at + timedelta(seconds=180))
    assert rig.host.fleet.hvac_offset[i] == 0.0
    gateway.close()
