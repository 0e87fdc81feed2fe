"""The simulated fleet: the physical device models behind the device adapter seam.

Commands change the controls of the simulated devices exactly as a real
gateway would change a thermostat's setpoint or a battery's discharge, and
telemetry is read from the model state. The fleet also keeps a meter per site,
in 15-minute intervals from a chosen local midnight.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import numpy as np

from coflex.adapters.devices.base import (
    Acknowledgement,
    Action,
    Command,
    ContactFault,
    Telemetry,
)
from coflex.adapters.readers.weather import WeatherSeries
from coflex.domain.fleet import DeviceKind
from coflex.simulation import fleet as model
from coflex.simulation.clock import build_clock, local_day_number

METER_INTERVAL_S = 900
_COLUMNS_PER_DAY = 288  # the base load grid has one column per 5 minutes
# What changes while the fleet runs; everything else is fixed at construction.
_CHANGING = (
    "state",
    "hvac_offset",
    "battery_discharge",
    "ev_limit",
    "heater_enabled",
    "_expiry",
    "meter_kwh",
    "_pending",
    "_pending_s",
    "_last",
)


def to_datetime64(at: datetime) -> np.datetime64:
    return np.datetime64(int(at.timestamp()), "s")


def to_datetime(at: np.datetime64) -> datetime:
    return datetime.fromtimestamp(int(np.datetime64(at, "s").astype(np.int64)), UTC)


class SimulatedFleet:
    """A fleet of simulated sites driven by weather and measured base load.

    Parameters
    ----------
    fleet, state
        The device models and their state at ``state.at``.
    device_id, device_kind, model_index
        The stored devices, in the order telemetry is returned: each device's
        id, kind and index among the model's devices of that kind.
    base_load_kw, base_load_first_day
        The [site, 5-minute column] base load grid and its first local day.
    battery_reserve_fraction
        Per site, the reserve that no discharge crosses [-].
    step_s
        Maximum simulation step [s].
    """

    def __init__(
        self,
        fleet: model.FleetModel,
        state: model.FleetState,
        weather: WeatherSeries,
        timezone: str,
        device_id: np.ndarray,
        device_kind: list[str],
        model_index: np.ndarray,
        base_load_kw: np.ndarray,
        base_load_first_day,  # type: ignore[no-untyped-def]
        *,
        battery_reserve_fraction: np.ndarray,
        water_heater_min_c: np.ndarray,
        meter_from: datetime,
        step_s: int = 60,
    ) -> None:
        self.fleet = fleet
        self.state = state
        self.weather = weather
        self.timezone = timezone
        self.device_id = device_id
        self.step_s = step_s
        self.base_load_kw = base_load_kw
        self.base_load_first_day = base_load_first_day
        self.first_day_number = local_day_number(base_load_first_day)
        self.reserve = battery_reserve_fraction[fleet.battery.site]
        self.tank_min_c = water_heater_min_c  # per site, as the model takes it
        kinds = np.array(device_kind)
        self._pos: dict[DeviceKind, np.ndarray] = {}
        self._lookup: dict[int, tuple[DeviceKind, int]] = {}
        for kind in DeviceKind:
            mask = kinds == kind.value
            order = np.argsort(model_index[mask])
            self._pos[kind] = np.flatnonzero(mask)[order]
            for pos in np.flatnonzero(mask):
                self._lookup[int(device_id[pos])] = (kind, int(model_index[pos]))
        self.hvac_offset = np.zeros(fleet.hvac.site.size)
        self.battery_discharge = np.full(fleet.battery.site.size, np.nan)
        self.ev_limit = np.full(fleet.ev.site.size, np.nan)
        self.heater_enabled = np.ones(fleet.water_heater.site.size, dtype=bool)
        # Per controlled device, when its curtailment ends on the device itself.
        self._expiry: dict[tuple[DeviceKind, int], np.datetime64] = {}
        self.meter_from = to_datetime64(meter_from)
        self.meter_kwh: list[np.ndarray] = []
        self._pending = np.zeros(fleet.n_sites)
        self._pending_s = 0
        self._last: model.StepOutput | None = None

    def positions(self, kind: DeviceKind) -> np.ndarray:
        """Return the telemetry positions of a kind's devices, in model order."""
        return self._pos[kind]

    # -- the adapter protocol -------------------------------------------------------

    def send(self, commands: list[Command], at: datetime) -> list[Acknowledgement]:
        acks = []
        for command in commands:
            found = self._lookup.get(command.device_id)
            if found is None:
                acks.append(
                    Acknowledgement(
                        command.device_id,
                        False,
                        at,
                        "unknown device",
                        ContactFault.UNKNOWN_DEVICE,
                    )
                )
                continue
            kind, i = found
            self._apply(kind, i, command)
            acks.append(Acknowledgement(command.device_id, True, at))
        return acks

    def _apply(self, kind: DeviceKind, i: int, command: Command) -> None:
        restore = command.action is Action.RESTORE
        value = 0.0 if command.value is None else float(command.value)
        if restore or command.until is None:
            self._expiry.pop((kind, i), None)
        else:
            self._expiry[(kind, i)] = to_datetime64(command.until)
        if kind is DeviceKind.HVAC:
            self.hvac_offset[i] = 0.0 if restore else value
        elif kind is DeviceKind.BATTERY:
            self.battery_discharge[i] = np.nan if restore else value
        elif kind is DeviceKind.EV_CHARGER:
            self.ev_limit[i] = np.nan if restore else value
        else:
            self.heater_enabled[i] = True if restore else value >= 0.5

    def advance(self, to: datetime) -> Telemetry:
        target = to_datetime64(to)
        while self.state.at < target:
            dt_s = int(min(self.step_s, int((target - self.state.at).astype(np.int64))))
            self._step(dt_s)
        return self.telemetry()

    # -- simulation ------------------------------------------------------------------

    def _controls(self) -> model.Controls:
        return model.Controls(
            hvac_offset_c=self.hvac_offset.copy(),
            battery_discharge_kw=self.battery_discharge.copy(),
            ev_limit_kw=self.ev_limit.copy(),
            water_heater_enabled=self.heater_enabled.copy(),
        )

    def _expire(self, at: np.datetime64) -> None:
        """Return devices whose curtailment has ended to their own schedules."""
        ended = [key for key, until in self._expiry.items() if until <= at]
        for kind, i in ended:
            self._apply(kind, i, Command(0, kind, Action.RESTORE, None, "expired"))

    def _step(self, dt_s: int) -> None:
        at = self.state.at
        if self._expiry:
            self._expire(at)
        clock = build_clock(np.array([at]), self.timezone, self.fleet.n_sites)
        column = clock.grid_column(0, self.first_day_number, 300)
        outdoor, _, ghi = self.weather.at(np.array([at]))
        base = self.base_load_kw[np.arange(self.fleet.n_sites), column]
        self.state, output = model.step(
            self.fleet,
            self.state,
            at,
            dt_s,
            outdoor[0],
            ghi[0],
            base,
            clock.hour_at(0),
            self._controls(),
            battery_reserve_fraction=self.reserve,
            water_heater_min_c=self.tank_min_c,
        )
        self._last = output
        if at >= self.meter_from:
            self._pending += output.site_power_kw * dt_s / 3600.0
            self._pending_s += dt_s
            if self._pending_s >= METER_INTERVAL_S:
                self.meter_kwh.append(self._pending)
                self._pending = np.zeros(self.fleet.n_sites)
                self._pending_s = 0

    def meter(self) -> np.ndarray:
        """Return the site energy [kWh] per whole 15-minute interval so far."""
        if not self.meter_kwh:
            return np.zeros((self.fleet.n_sites, 0))
        return np.column_stack(self.meter_kwh)

    def telemetry(self) -> Telemetry:
        n = len(self.device_id)
        power = np.full(n, np.nan)
        indoor = np.full(n, np.nan)
        soc = np.full(n, np.nan)
        tank = np.full(n, np.nan)
        need = np.full(n, np.nan)
        out = self._last
        site_power = np.full(self.fleet.n_sites, np.nan)
        if out is not None:
            power[self._pos[DeviceKind.HVAC]] = out.hvac_power_kw
            power[self._pos[DeviceKind.BATTERY]] = out.battery_power_kw
            power[self._pos[DeviceKind.EV_CHARGER]] = out.ev_power_kw
            power[self._pos[DeviceKind.WATER_HEATER]] = out.water_heater_power_kw
            site_power = out.site_power_kw
        indoor[self._pos[DeviceKind.HVAC]] = self.state.indoor_temp_c
        soc[self._pos[DeviceKind.BATTERY]] = (
            self.state.battery_energy_kwh / self.fleet.battery.capacity_kwh
        )
        tank[self._pos[DeviceKind.WATER_HEATER]] = self.state.tank_temp_c
        need[self._pos[DeviceKind.EV_CHARGER]] = self.state.ev.need_kwh
        return Telemetry(
            at=to_datetime(self.state.at),
            device_ids=self.device_id,
            power_kw=power,
            indoor_temp_c=indoor,
            battery_soc_fraction=soc,
            tank_temp_c=tank,
            ev_energy_needed_kwh=need,
            site_power_kw=site_power,
            site_ids=np.arange(self.fleet.n_sites),
        )

    def snapshot(self) -> dict[str, object]:
        """Return the fleet's changing state: device states, controls and meter."""
        return {name: getattr(self, name) for name in _CHANGING}

    def restore(self, snapshot: dict[str, object]) -> None:
        """Put the fleet back in a state taken by :meth:`snapshot`."""
        for name in _CHANGING:
            setattr(self, name, snapshot[name])

    def trim_base_load(self, first_day) -> None:  # type: ignore[no-untyped-def]
        """Drop the base load before ``first_day``, which the run never reads again."""
        days = (first_day - self.base_load_first_day).days
        if days <= 0:
            return
        self.base_load_kw = self.base_load_kw[:, days * _COLUMNS_PER_DAY :].copy()
        self.base_load_first_day = first_day
        self.first_day_number = local_day_number(first_day)

    def copy(self) -> SimulatedFleet:
        """Return an independent twin at the same state, on its own schedules."""
        twin = object.__new__(SimulatedFleet)
        twin.__dict__.update(self.__dict__)
        twin.hvac_offset = np.zeros_like(self.hvac_offset)
        twin.battery_discharge = np.full_like(self.battery_discharge, np.nan)
        twin.ev_limit = np.full_like(self.ev_limit, np.nan)
        twin.heater_enabled = np.ones_like(self.heater_enabled)
        twin._expiry = {}
        twin.meter_kwh = list(self.meter_kwh)
        twin._pending = self._pending.copy()
        twin.state = replace(self.state)
        return twin
