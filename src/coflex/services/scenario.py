"""Choosing the demo's calendar: history window, earlier events and the event."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
import numpy as np

from coflex.adapters.readers.weather import WeatherSeries, heat_index_c
from coflex.errors import RequestError, TimezoneError

HISTORY_DAYS = 45
EVENT_START_HOUR = 15
EVENT_HOURS = 3
PRIOR_EVENTS = 2


def zone(timezone: str) -> ZoneInfo:
    """Return the IANA zone, or raise a one-line error naming the value."""
    try:
        return ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise TimezoneError(
            f"unknown timezone {timezone!r}: give an IANA name such as "
            "America/New_York or Europe/London",
            value=timezone,
            field="timezone",
        ) from exc


@dataclass(frozen=True)
class Scenario:
    """The days the demo simulates, all in the sites' local calendar."""

    timezone: str
    first_day: date  # first day of history
    event_day: date
    start: datetime  # UTC-aware
    end: datetime
    prior_event_days: tuple[date, ...]

    @property
    def n_days(self) -> int:
        """Days simulated, history plus the event day."""
        return (self.event_day - self.first_day).days + 1


def _afternoons(
    weather: WeatherSeries, tz: ZoneInfo
) -> tuple[dict[date, float], dict[date, float]]:
    """Return the mean temperature and the maximum heat index [°C] of each
    local day's afternoon, 15:00 to 18:00."""
    seconds = weather.times.astype("datetime64[s]").astype(np.int64)
    index = heat_index_c(weather.temp_air_c, weather.relative_humidity_pct)
    temps: dict[date, list[float]] = {}
    heat: dict[date, float] = {}
    rows = zip(
        seconds.tolist(), weather.temp_air_c.tolist(), index.tolist(), strict=True
    )
    for second, temp, heat_index in rows:
        local = datetime.fromtimestamp(second, tz)
        if EVENT_START_HOUR <= local.hour < EVENT_START_HOUR + EVENT_HOURS:
            day = local.date()
            temps.setdefault(day, []).append(temp)
            heat[day] = max(heat.get(day, -273.0), heat_index)
    return {day: float(np.mean(values)) for day, values in temps.items()}, heat


def _weekday_candidates(
    means: dict[date, float],
    first_allowed: date,
    country_holidays: holidays.HolidayBase,
) -> list[tuple[float, date]]:
    ranked = [
        (temp, day)
        for day, temp in means.items()
        if day >= first_allowed and day.weekday() < 5 and day not in country_holidays
    ]
    ranked.sort(reverse=True)
    return ranked


def choose_scenario(
    weather: WeatherSeries,
    timezone: str,
    *,
    start_local: datetime | None = None,
    end_local: datetime | None = None,
    max_heat_index_c: float = float("inf"),
) -> Scenario:
    """Pick the event on the hottest weekday afternoon with 45 days of history.

    Afternoons whose heat index reaches ``max_heat_index_c`` are passed over:
    at that level the health-and-safety policy suspends cooling curtailment,
    and a grid operator's request would find few homes to call. Two earlier
    events of the same program fall on the next hottest weekdays inside the
    history window; their days are excluded from baselines.
    """
    tz = zone(timezone)
    means, heat = _afternoons(weather, tz)
    days = sorted(means)
    first_allowed = days[0] + timedelta(days=HISTORY_DAYS + 1)
    years = {day.year for day in days}
    country_holidays = holidays.country_holidays("US", years=years)

    if start_local is None:
        bearable = {day: t for day, t in means.items() if heat[day] < max_heat_index_c}
        ranked = _weekday_candidates(bearable, first_allowed, country_holidays)
        if not ranked:
            raise RequestError(
                f"the weather file {weather.source} has no weekday with "
                f"{HISTORY_DAYS} days of history before it: give a longer file",
                value=weather.source,
            )
        event_day = ranked[0][1]
        start_local = datetime.combine(event_day, time(EVENT_START_HOUR))
    if end_local is None:
        end_local = start_local + timedelta(hours=EVENT_HOURS)
    start = _localise(start_local, tz)
    end = _localise(end_local, tz)
    event_day = start.astimezone(tz).date()
    if end <= start:
        raise RequestError(
            f"event end {end_local.isoformat()} is not after its start "
            f"{start_local.isoformat()}: give an end later than the start",
            value=end_local.isoformat(),
            field="event_end",
        )
    for name, value in (("event_start", start_local), ("event_end", end_local)):
        if value.minute % 5 or value.second or value.microsecond:
            raise RequestError(
                f"{name} {value.isoformat()} is not on a 5-minute boundary: "
                "the simulated fleet steps in 5-minute intervals, so give e.g. "
                "15:00 or 15:05",
                value=value.isoformat(),
                field=name,
            )
    first_day = event_day - timedelta(days=HISTORY_DAYS)
    if first_day < days[0] or event_day > days[-1]:
        raise RequestError(
            f"event day {event_day} needs weather from {first_day} on, but "
            f"{weather.source} covers {days[0]} to {days[-1]}: pick a day from "
            f"{days[0] + timedelta(days=HISTORY_DAYS)} to {days[-1]}",
            value=event_day.isoformat(),
            field="event_start",
        )
    prior = _prior_event_days(means, first_day, event_day, country_holidays)
    return Scenario(timezone, first_day, event_day, start, end, prior)


def _localise(value: datetime, tz: ZoneInfo) -> datetime:
    """Attach the sites' zone to a wall-clock time and convert it to UTC.

    A wall-clock time skipped by a spring-forward change does not exist there,
    so it is rejected rather than silently moved.
    """
    if value.tzinfo is not None:
        return value.astimezone(ZoneInfo("UTC"))
    utc = value.replace(tzinfo=tz).astimezone(ZoneInfo("UTC"))
    if utc.astimezone(tz).replace(tzinfo=None) != value:
        raise RequestError(
            f"local time {value.isoformat()} does not exist in {tz.key}: the clocks "
            "skip it at a daylight-saving change; give a time outside the gap",
            value=value.isoformat(),
            field="event_start",
        )
    return utc


def _prior_event_days(
    means: dict[date, float],
    first_day: date,
    event_day: date,
    country_holidays: holidays.HolidayBase,
) -> tuple[date, ...]:
    window = {
        day: temp
        for day, temp in means.items()
        if first_day + timedelta(days=7) <= day < event_day - timedelta(days=2)
    }
    ranked = _weekday_candidates(window, first_day, country_holidays)
    chosen: list[date] = []
    for _, day in ranked:
        if all(abs((day - other).days) >= 3 for other in chosen):
            chosen.append(day)
        if len(chosen) == PRIOR_EVENTS:
            break
    return tuple(sorted(chosen))
