"""Forecasts for the simulated fleet: its weather file and its physical models."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np

from coflex.adapters.devices.simulated import SimulatedFleet, to_datetime64
from coflex.adapters.readers.weather import WeatherSeries, heat_index_c
from coflex.domain.fleet import DeviceKind
from coflex.domain.programs import HealthSafetyLimits
from coflex.services.ports import DeviceForecast, SiteWeather
from coflex.simulation.flexibility import SiteLimits, predict_flexibility

# Customer impact of full control, per device kind, on a 0 to 1 scale: a
# thermostat offset is felt most, a battery discharge hardly at all.
# NOTE: relative weights chosen for planning, not measured preferences.
IMPACT_SCORE = {
    DeviceKind.HVAC: 1.0,
    DeviceKind.BATTERY: 0.2,
    DeviceKind.EV_CHARGER: 0.5,
    DeviceKind.WATER_HEATER: 0.3,
}
WEATHER_STEP_S = 900


class SimulatedForecaster:
    """Forecasts that know the weather file ahead, as the demo's weather service."""

    def __init__(
        self,
        fleet: SimulatedFleet,
        series: WeatherSeries,
        *,
        planning_margin_c: float = 0.5,
        planning_margin_soc: float = 0.02,
    ) -> None:
        self.fleet = fleet
        self.series = series
        self.margin_c = planning_margin_c
        self.margin_soc = planning_margin_soc

    def _site_limits(
        self, limits: Sequence[HealthSafetyLimits], vulnerable: np.ndarray
    ) -> SiteLimits:
        """Per-site limits from each contract, tightened by the planning margin.

        Plans keep this far inside the limits, so that forecast error rarely
        brings a device to the watchdog's release threshold.
        """
        flags = [bool(v) for v in vulnerable]
        return SiteLimits(
            indoor_min_c=np.array(
                [x.indoor_min_for(v) for x, v in zip(limits, flags, strict=True)]
            )
            + self.margin_c,
            indoor_max_c=np.array(
                [x.indoor_max_for(v) for x, v in zip(limits, flags, strict=True)]
            )
            - self.margin_c,
            max_offset_c=np.array(
                [x.max_offset_for(v) for x, v in zip(limits, flags, strict=True)]
            ),
            battery_reserve_fraction=np.array(
                [x.battery_reserve_fraction for x in limits]
            )
            + self.margin_soc,
            water_heater_min_c=np.array([x.water_heater_min_c for x in limits])
            + self.margin_c,
        )

    def weather(self, start: dt.datetime, end: dt.datetime) -> SiteWeather:
        seconds = np.arange(
            int(start.timestamp()), int(end.timestamp()) + 1, WEATHER_STEP_S
        )
        temp, humidity, _ = self.series.at(seconds.astype("datetime64[s]"))
        n = self.fleet.fleet.n_sites
        return SiteWeather(
            heat_index_max_c=np.full(n, float(np.max(heat_index_c(temp, humidity)))),
            temp_min_c=np.full(n, float(np.min(temp))),
        )

    def flexibility(
        self,
        now: dt.datetime,
        start: dt.datetime,
        end: dt.datetime,
        eligible: np.ndarray,
        site_limits: Sequence[HealthSafetyLimits],
        vulnerable: np.ndarray,
    ) -> DeviceForecast:
        sim = self.fleet
        limits = self._site_limits(site_limits, vulnerable)
        flex = predict_flexibility(
            sim.fleet,
            sim.state,
            to_datetime64(now),
            to_datetime64(start),
            to_datetime64(end),
            sim.weather,
            sim.base_load_kw,
            sim.timezone,
            limits,
            base_load_first_day=sim.base_load_first_day,
        )
        n = len(sim.device_id)
        flex_kw, full, idle_all = np.zeros(n), np.zeros(n), np.zeros(n)
        impact, extreme = np.zeros(n), np.full(n, np.nan)
        divisible = np.ones(n, dtype=bool)
        cooling = np.zeros(n, dtype=bool)
        parts = (
            (DeviceKind.HVAC, flex.hvac, np.zeros(flex.hvac.site.size)),
            (DeviceKind.BATTERY, flex.battery, np.zeros(flex.battery.site.size)),
            (DeviceKind.EV_CHARGER, flex.ev, sim.fleet.ev.charger_kw.astype(float)),
            (
                DeviceKind.WATER_HEATER,
                flex.water_heater,
                np.ones(flex.water_heater.site.size),
            ),
        )
        for kind, part, idle in parts:
            pos = sim.positions(kind)
            reduction = np.maximum(np.nan_to_num(part.flex_kw), 0.0)
            control = np.asarray(part.control, dtype=np.float64)
            if kind is DeviceKind.WATER_HEATER:
                # The element is either off for the event or left alone.
                control = np.where(np.asarray(part.control, dtype=bool), 0.0, 1.0)
                divisible[pos] = False
            usable = np.isfinite(control)
            reduction = np.where(usable, reduction, 0.0)
            flex_kw[pos] = reduction
            full[pos] = np.where(usable, control, idle)
            idle_all[pos] = idle
            extreme[pos] = part.extreme
            score = np.full(reduction.size, IMPACT_SCORE[kind])
            if kind is DeviceKind.HVAC:
                cooling[pos] = flex.hvac_cooling
                max_offset = limits.max_offset_c[part.site]
                score = score * np.clip(
                    full[pos] / np.maximum(max_offset, 1e-9), 0.0, 1.0
                )
            impact[pos] = score / np.maximum(reduction, 0.1)
        flex_kw[~eligible] = 0.0
        return DeviceForecast(
            device_id=sim.device_id,
            flex_kw=flex_kw,
            full_control=full,
            idle_control=idle_all,
            divisible=divisible,
            impact=impact,
            predicted_extreme=extreme,
            cooling=cooling,
        )
