"""A Mosquitto broker set up for a coflex fleet: accounts, ACL, TLS, process.

:func:`write_broker_files` writes what a Mosquitto 2.x broker needs to enforce
per-device accounts: a password file hashed by ``mosquitto_passwd``, the ACL
from :func:`coflex.adapters.devices.mqtt_protocol.access_control_list`, and a
configuration that refuses anonymous clients. :class:`MosquittoProcess` runs
such a broker on a loopback port, for tests and benchmarks.
"""

from __future__ import annotations

import getpass
import secrets
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from coflex.adapters.devices import mqtt_protocol as wire
from coflex.errors import DeviceGatewayError


@dataclass(frozen=True)
class BrokerAccounts:
    """Passwords of the gateway, the device simulator and each device, by account."""

    gateway: str
    simulator: str
    devices: dict[int, str] = field(default_factory=dict)

    @classmethod
    def generate(cls, device_ids: list[int]) -> BrokerAccounts:
        """Draw a random 144-bit password for every account."""
        return cls(
            gateway=secrets.token_urlsafe(18),
            simulator=secrets.token_urlsafe(18),
            devices={int(d): secrets.token_urlsafe(18) for d in device_ids},
        )

    def as_json(self) -> dict[str, object]:
        """Return the accounts as the device simulator reads them."""
        return {
            "simulator": self.simulator,
            "devices": {str(k): v for k, v in self.devices.items()},
        }


@dataclass(frozen=True)
class TlsFiles:
    """PEM files of a broker's TLS listener."""

    ca_file: Path
    cert_file: Path
    key_file: Path


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def write_broker_files(
    folder: Path,
    port: int,
    accounts: BrokerAccounts,
    *,
    topic_prefix: str = "coflex",
    tls: TlsFiles | None = None,
) -> Path:
    """Write a Mosquitto configuration, password file and ACL; return the config.

    Raises
    ------
    DeviceGatewayError
        If ``mosquitto_passwd`` is missing or fails.
    """
    folder.mkdir(parents=True, exist_ok=True)
    passwords = folder / "passwords"
    lines = [f"{wire.GATEWAY_ACCOUNT}:{accounts.gateway}"]
    lines.append(f"{wire.SIMULATOR_ACCOUNT}:{accounts.simulator}")
    lines += [f"{wire.device_account(d)}:{p}" for d, p in accounts.devices.items()]
    passwords.write_text("\n".join(lines) + "\n", encoding="utf-8")
    passwords.chmod(0o600)
    tool = shutil.which("mosquitto_passwd")
    if tool is None:
        raise DeviceGatewayError(
            "mosquitto_passwd was not found on PATH: install the mosquitto package"
        )
    # -U replaces every plain-text password in the file by its hash.
    done = subprocess.run([tool, "-U", str(passwords)], capture_output=True, text=True)
    if done.returncode != 0:
        raise DeviceGatewayError(
            f"mosquitto_passwd failed on {passwords}: {done.stderr.strip()}"
        )
    acl = folder / "acl"
    acl.write_text(wire.access_control_list(topic_prefix), encoding="utf-8")
    config = [
        f"listener {port} 127.0.0.1",
        # Started as root, Mosquitto would switch to the "mosquitto" user, which
        # cannot read these files; it stays as the user who starts it.
        f"user {getpass.getuser()}",
        "allow_anonymous false",
        f"password_file {passwords}",
        f"acl_file {acl}",
        "persistence false",
        "set_tcp_nodelay true",
        # A fleet's acknowledgements reach the gateway all at once.
        "max_queued_messages 0",
        f"log_dest file {folder / 'mosquitto.log'}",
        "log_type error",
        "log_type warning",
        "log_type notice",
    ]
    if tls is not None:
        config += [
            f"cafile {tls.ca_file}",
            f"certfile {tls.cert_file}",
            f"keyfile {tls.key_file}",
            "tls_version tlsv1.2",
        ]
    path = folder / "mosquitto.conf"
    path.write_text("\n".join(config) + "\n", encoding="utf-8")
    return path


class MosquittoProcess:
    """A Mosquitto broker process with a given configuration, on 127.0.0.1."""

    def __init__(self, config: Path, port: int) -> None:
        self.config = config
        self.port = port
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 10.0) -> None:
        """Start the broker and wait until its port accepts connections."""
        tool = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.process = subprocess.Popen(
            [tool, "-c", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                error = ""
                if self.process.stderr is not None:
                    error = self.process.stderr.read().decode()
                    self.process.stderr.close()
                raise DeviceGatewayError(
                    f"mosquitto exited with status {self.process.returncode}: "
                    f"{error.strip()}; check {self.config}"
                )
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise DeviceGatewayError(
            f"mosquitto did not open port {self.port} within {timeout_s:g} s"
        )

    def kill(self) -> None:
        """Kill the broker at once, as a crash would."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def stop(self) -> None:
        """Stop the broker and wait for it to exit."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
        if self.process is not None and self.process.stderr is not None:
            self.process.stderr.close()
