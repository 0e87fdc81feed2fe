"""The device adapter seam: what the event runner needs from any device fleet.

The simulated fleet implements it in this package; MQTT, OpenADR 3 and OCPP
adapters implement the same protocol, so the event runner does not change when
devices are real.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol

import numpy as np

from coflex.domain.fleet import DeviceKind


class Action(StrEnum):
    CURTAIL = "curtail"
    RESTORE = "restore"


@dataclass(frozen=True)
class Command:
    """One command for one device.

    ``value`` is the control in the device's own unit: a setpoint offset [°C]
    for HVAC, a discharge power [kW] for a battery, a charge limit [kW] for an
    EV charger, and 0 (element off) for a water heater. RESTORE hands the device
    back to the customer's own schedule and carries no value. ``until`` is when
    a curtailment ends on the device itself: the device returns to its
    customer's schedule then even if no RESTORE reaches it, so a stopped
    runner cannot leave it under control past the event end.

    The simulated fleet honours ``until``, also behind MQTT, where the
    command message carries it. NOTE: the OCPP endpoint uses it only to size
    the charge limit.
    """

    device_id: int
    kind: DeviceKind
    action: Action
    value: float | None
    reason: str
    until: datetime | None = None


class ContactFault(StrEnum):
    """Why a device could not be reached or did not confirm a command.

    The event runner releases a device with one of these as the reason; the
    device itself falls back to its customer's own schedule when it loses
    contact with the aggregator.
    """

    LOST_CONTACT = "lost_contact"
    NO_ACKNOWLEDGEMENT = "no_acknowledgement"
    COMMAND_REJECTED = "command_rejected"
    BROKER_UNAVAILABLE = "broker_unavailable"
    TELEMETRY_MISSING = "telemetry_missing"
    UNKNOWN_DEVICE = "unknown_device"


@dataclass(frozen=True)
class Acknowledgement:
    """A device's response to one command, with the fault when it was not accepted."""

    device_id: int
    accepted: bool
    at: datetime
    detail: str = ""
    fault: ContactFault | None = None


@dataclass(frozen=True)
class Telemetry:
    """Fleet readings at one instant, indexed like ``device_ids``.

    Quantities that a device kind does not have are NaN.
    """

    at: datetime
    device_ids: np.ndarray
    power_kw: np.ndarray
    indoor_temp_c: np.ndarray
    battery_soc_fraction: np.ndarray
    tank_temp_c: np.ndarray
    ev_energy_needed_kwh: np.ndarray
    site_power_kw: np.ndarray  # per site, indexed like ``site_ids``
    site_ids: np.ndarray
    # Devices out of contact at ``at``, by device id, with the fault; their
    # readings are NaN and the event runner releases them.
    lost_contact: dict[int, ContactFault] = field(default_factory=dict)


class DeviceAdapter(Protocol):
    """A fleet of devices that accepts commands and reports telemetry."""

    def send(self, commands: list[Command], at: datetime) -> list[Acknowledgement]:
        """Deliver commands and return one acknowledgement per command."""
        ...

    def advance(self, to: datetime) -> Telemetry:
        """Let time pass until ``to`` and return the readings taken then."""
        ...
