"""Smart-charging rules for EV chargers: the owner's energy need and randomised delay.

Both rules protect the EV owner. A curtailment never lowers the charge limit
below what still delivers the energy the owner needs by departure, and every
change of charging rate starts after a randomised delay unless the owner has
removed it.

References
----------
The Electric Vehicles (Smart Charge Points) Regulations 2021 (SI 2021/1467),
regulation 11 (randomised delay): a charge point applies a random delay of up
to 600 seconds by default, which its owner can override.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime

# The default ceiling of the randomised delay under SI 2021/1467 regulation 11.
DEFAULT_RANDOMISED_DELAY_MAX_S = 600.0


@dataclass(frozen=True)
class ChargingNeed:
    """What the EV owner needs from a charging session.

    Attributes
    ----------
    energy_needed_kwh
        Energy still to deliver before departure [kWh].
    departure_at
        When the owner will unplug.
    max_power_kw
        Highest power the charger and the car accept [kW].
    """

    energy_needed_kwh: float
    departure_at: datetime
    max_power_kw: float


def lowest_allowed_limit_kw(
    need: ChargingNeed, start: datetime, until: datetime | None
) -> float:
    """Return the lowest charge limit [kW] that still meets the need by departure.

    The limit holds from ``start`` to ``until`` (to departure when ``None``),
    and the charger runs at ``max_power_kw`` after it. Charging before
    ``start`` is not counted, so the result is on the safe side.

    Parameters
    ----------
    need
        The owner's energy need, departure time and the charger's power [kW].
    start, until
        The curtailment window.

    Returns
    -------
    float
        A limit between 0 and ``max_power_kw`` [kW]. When even full power
        cannot meet the need, the result is ``max_power_kw``: no curtailment.
    """
    if need.energy_needed_kwh <= 0:
        return 0.0
    end = need.departure_at if until is None else min(until, need.departure_at)
    curtailed_h = max(0.0, (end - start).total_seconds() / 3600.0)
    after = max(end, start)
    after_h = max(0.0, (need.departure_at - after).total_seconds() / 3600.0)
    remaining_kwh = need.energy_needed_kwh - need.max_power_kw * after_h
    if remaining_kwh <= 0:
        return 0.0
    if curtailed_h == 0:
        return need.max_power_kw
    return min(need.max_power_kw, remaining_kwh / curtailed_h)


def randomised_delay_s(max_delay_s: float, rng: random.Random) -> float:
    """Draw the delay [s] before a change of charging rate takes effect.

    ``max_delay_s`` is the owner's setting: 600 s by default under
    SI 2021/1467 regulation 11, or 0 when the owner has removed the delay.
    """
    if max_delay_s < 0:
        raise ValueError(f"max_delay_s is {max_delay_s}: expected 0 or more")
    if max_delay_s == 0:
        return 0.0
    return rng.uniform(0.0, max_delay_s)
