"""What the event runner needs from a fleet besides commands: forecasts.

The simulated fleet answers these with its physical models; a production
fleet answers them with models fitted to its telemetry and a weather service.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import numpy as np

from coflex.domain.programs import HealthSafetyLimits


@dataclass(frozen=True)
class DeviceForecast:
    """Predicted flexibility per device, indexed like the fleet's device ids.

    ``flex_kw`` is the average load reduction over the event at full allowed
    control, ``full_control`` the command value that gives it, a fraction
    ``f`` of it is commanded as ``idle + f * (full - idle)``, and
    ``predicted_extreme`` the indoor temperature [°C], battery state of charge
    [fraction] or tank temperature [°C] that full control would reach.
    """

    device_id: np.ndarray
    flex_kw: np.ndarray
    full_control: np.ndarray
    idle_control: np.ndarray  # the command value that reduces nothing
    divisible: np.ndarray
    impact: np.ndarray
    predicted_extreme: np.ndarray
    cooling: np.ndarray  # bool: HVAC in cooling mode


@dataclass(frozen=True)
class SiteWeather:
    heat_index_max_c: np.ndarray  # per site, over the event window
    temp_min_c: np.ndarray


class Forecaster(Protocol):
    def weather(self, start: datetime, end: datetime) -> SiteWeather: ...

    def flexibility(
        self,
        now: datetime,
        start: datetime,
        end: datetime,
        eligible: np.ndarray,
        site_limits: Sequence[HealthSafetyLimits],
        vulnerable: np.ndarray,
    ) -> DeviceForecast:
        """Predict each eligible device's flexibility within its site's limits.

        ``site_limits`` are the limits of each site's contract, which may be
        stricter than the program's.
        """
        ...
