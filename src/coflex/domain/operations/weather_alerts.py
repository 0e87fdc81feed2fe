"""What an official weather alert over a site means for dispatch.

The health-and-safety policy acts on three kinds of National Weather Service
alert: severe storms (a battery is kept full, because an outage is likely),
heat and cold. The product names are those of the NWS hazard list. The list
also keeps the older names, because archived alerts still carry them: Wind
Chill Warning became Extreme Cold Warning in October 2024, and Excessive Heat
Warning became Extreme Heat Warning in March 2025.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

EARTH_RADIUS_KM = 6371.0088  # IUGG mean Earth radius


@dataclass(frozen=True)
class Circle:
    latitude: float
    longitude: float
    radius_km: float


@dataclass(frozen=True)
class WeatherAlert:
    """One watch, warning or advisory over an area and a time span (UTC)."""

    identifier: str
    event: str  # e.g. "Severe Thunderstorm Warning"
    severity: str  # CAP: Extreme, Severe, Moderate, Minor, Unknown
    onset: datetime
    ends: datetime
    status: str = "Actual"
    message_type: str = "Alert"
    # Each polygon is a closed ring of (latitude, longitude) pairs.
    polygons: tuple[tuple[tuple[float, float], ...], ...] = ()
    circles: tuple[Circle, ...] = ()
    zones: frozenset[str] = field(default_factory=frozenset)  # UGC codes

    @property
    def located(self) -> bool:
        """Return whether the alert gives its area as a polygon or circle."""
        return bool(self.polygons or self.circles)

    def covers(self, latitude: float, longitude: float) -> bool:
        """Return whether the point lies in the warned polygon or circle."""
        if any(_inside(latitude, longitude, ring) for ring in self.polygons):
            return True
        return any(
            _distance_km(latitude, longitude, c.latitude, c.longitude) <= c.radius_km
            for c in self.circles
        )

    def in_force(self, start: datetime, end: datetime) -> bool:
        """Return whether the alert overlaps ``[start, end)``."""
        return self.onset < end and self.ends > start


class Hazard(StrEnum):
    STORM = "storm"
    HEAT = "heat"
    COLD = "cold"


class Level(StrEnum):
    WARNING = "warning"  # the hazard is occurring or imminent
    WATCH = "watch"  # conditions favour it
    ADVISORY = "advisory"  # less serious; still a risk to vulnerable people


# Product name -> (hazard, level).
PRODUCTS: dict[str, tuple[Hazard, Level]] = {
    "Tornado Warning": (Hazard.STORM, Level.WARNING),
    "Tornado Watch": (Hazard.STORM, Level.WATCH),
    "Severe Thunderstorm Warning": (Hazard.STORM, Level.WARNING),
    "Severe Thunderstorm Watch": (Hazard.STORM, Level.WATCH),
    "Hurricane Warning": (Hazard.STORM, Level.WARNING),
    "Hurricane Watch": (Hazard.STORM, Level.WATCH),
    "Tropical Storm Warning": (Hazard.STORM, Level.WARNING),
    "Tropical Storm Watch": (Hazard.STORM, Level.WATCH),
    "Extreme Wind Warning": (Hazard.STORM, Level.WARNING),
    "High Wind Warning": (Hazard.STORM, Level.WARNING),
    "Winter Storm Warning": (Hazard.STORM, Level.WARNING),
    "Ice Storm Warning": (Hazard.STORM, Level.WARNING),
    "Blizzard Warning": (Hazard.STORM, Level.WARNING),
    "Extreme Heat Warning": (Hazard.HEAT, Level.WARNING),
    "Excessive Heat Warning": (Hazard.HEAT, Level.WARNING),
    "Extreme Heat Watch": (Hazard.HEAT, Level.WATCH),
    "Excessive Heat Watch": (Hazard.HEAT, Level.WATCH),
    "Heat Advisory": (Hazard.HEAT, Level.ADVISORY),
    "Extreme Cold Warning": (Hazard.COLD, Level.WARNING),
    "Wind Chill Warning": (Hazard.COLD, Level.WARNING),
    "Extreme Cold Watch": (Hazard.COLD, Level.WATCH),
    "Wind Chill Watch": (Hazard.COLD, Level.WATCH),
    "Cold Weather Advisory": (Hazard.COLD, Level.ADVISORY),
    "Wind Chill Advisory": (Hazard.COLD, Level.ADVISORY),
}

# A battery is held full when a storm alert begins before the event ends or
# within this time after it. The Mass Save ConnectedSolutions terms rule out
# dispatch before large winter storms without a fixed horizon, so 24 h is an
# estimate: a battery drained by an event may have only solar to refill it.
STORM_LOOKAHEAD = timedelta(hours=24)


@dataclass(frozen=True)
class SiteAlert:
    """An alert that covers a site while it matters for an event."""

    hazard: Hazard
    level: Level
    event: str
    identifier: str
    ends: datetime

    def describe(self) -> str:
        return f"NWS {self.event} ({self.identifier}) in force until {self.ends:%Y-%m-%d %H:%M} UTC"


def classify(alert: WeatherAlert) -> tuple[Hazard, Level] | None:
    """Return the hazard and level of an alert, or None if the policy ignores it."""
    return PRODUCTS.get(alert.event)


def alerts_for_site(
    alerts: Sequence[WeatherAlert],
    latitude: float,
    longitude: float,
    start: datetime,
    end: datetime,
) -> tuple[SiteAlert, ...]:
    """Return the alerts over a site that bear on an event over ``[start, end)``.

    Heat and cold alerts count when in force during the event; storm alerts
    also when they begin within :data:`STORM_LOOKAHEAD` after it.
    """
    found = []
    for alert in alerts:
        kind = classify(alert)
        if kind is None or not alert.covers(latitude, longitude):
            continue
        hazard, level = kind
        horizon = end + STORM_LOOKAHEAD if hazard is Hazard.STORM else end
        if alert.in_force(start, horizon):
            found.append(SiteAlert(hazard, level, alert.event, alert.identifier, alert.ends))
    return tuple(found)


def unlocated(alerts: Sequence[WeatherAlert]) -> list[WeatherAlert]:
    """Return the alerts the policy acts on that give no polygon or circle."""
    return [a for a in alerts if classify(a) is not None and not a.located]


def _inside(latitude: float, longitude: float, ring: tuple[tuple[float, float], ...]) -> bool:
    """Even-odd ray casting; warned polygons span a few counties, so the plane suffices."""
    inside = False
    n = len(ring)
    for i in range(n):
        lat1, lon1 = ring[i]
        lat2, lon2 = ring[(i + 1) % n]
        if (lat1 > latitude) != (lat2 > latitude):
            crossing = lon1 + (latitude - lat1) * (lon2 - lon1) / (lat2 - lat1)
            if longitude < crossing:
                inside = not inside
    return inside


def _distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(h))
