"""Fan commands out over MQTT to 10,000 simulated devices and wait for every ack.

Starts a Mosquitto broker of its own on a free loopback port with a password
per device and the coflex ACL, runs the device simulator in a child process
(one MQTT connection per device), and times ``MqttGateway.send`` for one
curtailment and one restore of ``--devices`` devices. The standalone fleet is
drawn by site, so slightly more devices connect than receive commands. Prints
one JSON line.

    .venv/bin/python benchmarks/mqtt_fanout.py [--devices 10000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import tempfile
import time
from pathlib import Path

from coflex.adapters.devices.base import Action, Command
from coflex.adapters.devices.mosquitto import (
    BrokerAccounts,
    MosquittoProcess,
    free_port,
    write_broker_files,
)
from coflex.adapters.devices.mqtt_devices import build_standalone_fleet
from coflex.adapters.devices.mqtt_gateway import BrokerSettings
from coflex.adapters.devices.mqtt_session import MqttSimulation
from coflex.adapters.devices.simulated import to_datetime


def mosquitto_version() -> str:
    shown = subprocess.run(["mosquitto", "-h"], capture_output=True, text=True)
    return shown.stdout.splitlines()[0].strip() if shown.stdout else "unknown"


def fleet_with(devices: int):  # type: ignore[no-untyped-def]
    """Build the smallest standalone fleet with at least ``devices`` devices."""
    sites = int(devices / 1.3)
    while True:
        fleet, kinds = build_standalone_fleet(sites, seed=11)
        if len(kinds) >= devices:
            return fleet, kinds
        sites = int(sites * devices / len(kinds)) + 10


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    fleet, kinds = fleet_with(args.devices)
    accounts = BrokerAccounts.generate([int(d) for d in fleet.device_id])
    with tempfile.TemporaryDirectory() as folder:
        port = free_port()
        config = write_broker_files(Path(folder), port, accounts)
        broker = MosquittoProcess(config, port)
        broker.start()
        try:
            result = run(fleet, kinds, accounts, port, args.rounds, args.devices)
        finally:
            broker.stop()
    print(json.dumps(result))


def run(
    fleet, kinds, accounts, port: int, rounds: int, devices: int
) -> dict[str, object]:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    simulation = MqttSimulation(
        fleet, kinds, BrokerSettings(port=port), accounts=accounts, ack_timeout_s=30
    )
    gateway = simulation.start(timeout_s=300)
    connect_s = time.perf_counter() - started
    at = to_datetime(fleet.state.at)
    curtail = [
        Command(int(d), k, Action.CURTAIL, 1.0 if k == "hvac" else 0.0, "benchmark")
        for d, k in zip(fleet.device_id, kinds, strict=True)
    ][:devices]
    restore = [Command(c.device_id, c.kind, Action.RESTORE, None, "b") for c in curtail]
    timings: list[float] = []
    acknowledged: list[int] = []
    for _ in range(rounds):
        for commands in (curtail, restore):
            begun = time.perf_counter()
            acks = gateway.send(commands, at)
            timings.append(time.perf_counter() - begun)
            acknowledged.append(sum(ack.accepted for ack in acks))
    rejections = sum(gateway.rejections.values())
    simulation.stop()
    return {
        "benchmark": "mqtt_fanout",
        "devices": len(curtail),
        "devices_connected": len(kinds),
        "acknowledged_min": min(acknowledged),
        "fanout_s_median": sorted(timings)[len(timings) // 2],
        "fanout_s_max": max(timings),
        "rounds": len(timings),
        "connect_s": round(connect_s, 1),
        "rejections": rejections,
        "transport": "plain TCP on loopback, per-device passwords and ACL",
        "broker": mosquitto_version(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
    }


if __name__ == "__main__":
    main()
