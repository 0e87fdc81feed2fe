"""The fleet's history before the event: metered days and earlier events.

History comes from the physical device models driven by the weather file and
each site's measured base load. Earlier events of the program in the history
window are dispatched in the model (thermostat offsets within the comfort
limits) and recorded, so that their days drop out of the baselines and count
toward the season caps.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy.orm import Session, sessionmaker

from coflex.adapters.readers.weather import WeatherSeries
from coflex.adapters.store.bulk import insert_rows
from coflex.adapters.store.database import transaction
from coflex.adapters.store.meter import store_meter_days
from coflex.adapters.store.models import Event, FlexibilityRequest, Participation
from coflex.domain.programs import ProgramTerms
from coflex.services.enrollment import Enrolled
from coflex.services.population import Population
from coflex.services.scenario import EVENT_HOURS, EVENT_START_HOUR, Scenario
from coflex.simulation import fleet as model

logger = logging.getLogger(__name__)

PRIOR_OFFSET_C = 1.5
PRIOR_RELEASE_MARGIN_C = 0.3
STEP_S = 300


@dataclass(frozen=True)
class PriorEvent:
    day: date
    start: datetime
    end: datetime
    participants: np.ndarray  # bool per site


def _local_midnight(day: date, timezone: str) -> datetime:
    return datetime.combine(day, time(), ZoneInfo(timezone))


def plan_prior_events(
    scenario: Scenario,
    population: Population,
    fleet: model.FleetModel,
    terms: ProgramTerms,
) -> list[PriorEvent]:
    """Choose who took part in each earlier event.

    A site took part if it had an HVAC device, an active contract past its
    cooling-off period and consent at the time, no medical equipment, and its
    turn in a rotation that spreads the events over the fleet.
    """
    n = fleet.n_sites
    has_hvac = np.zeros(n, dtype=bool)
    has_hvac[fleet.hvac.site] = True
    events = []
    for k, day in enumerate(scenario.prior_event_days):
        zone = ZoneInfo(scenario.timezone)
        start = datetime.combine(day, time(EVENT_START_HOUR), zone)
        end = start + timedelta(hours=EVENT_HOURS)
        days_before = (scenario.start.date() - day).days
        active_then = (
            population.days_since_acceptance - 14 > days_before
        ) & ~population.in_cooling_off
        rotation = (np.arange(n) % 3) != (k % 3)
        participants = has_hvac & active_then & ~population.medical_equipment & rotation
        participants |= (
            has_hvac
            & active_then
            & population.stricter_cap
            & ~population.medical_equipment
        )
        events.append(PriorEvent(day, start, end, participants))
    return events


def _controls_for(
    prior: list[PriorEvent], fleet: model.FleetModel, limit_c: np.ndarray
) -> model.ControlsFunction:
    windows = [
        (
            np.datetime64(int(e.start.timestamp()), "s"),
            np.datetime64(int(e.end.timestamp()), "s"),
            e.participants[fleet.hvac.site],
        )
        for e in prior
    ]

    def controls(at: np.datetime64, state: model.FleetState) -> model.Controls | None:
        for start, end, taking_part in windows:
            if start <= at < end:
                safe = state.indoor_temp_c < limit_c - PRIOR_RELEASE_MARGIN_C
                offset = np.where(
                    taking_part & safe & state.hvac_cooling, PRIOR_OFFSET_C, 0.0
                )
                return model.Controls(hvac_offset_c=offset)
        return None

    return controls


def simulate_history(
    factory: sessionmaker[Session],
    scenario: Scenario,
    fleet: model.FleetModel,
    weather: WeatherSeries,
    base_load_kw: np.ndarray,
    enrolled: Enrolled,
    prior: list[PriorEvent],
    *,
    indoor_max_c: np.ndarray,
    battery_reserve: np.ndarray,
    tank_min_c: np.ndarray,
    on_day: Callable[[], None] | None = None,
) -> model.FleetState:
    """Simulate and store every history day; return the state at the event day."""
    first = _local_midnight(scenario.first_day, scenario.timezone)
    state = model.initial_state(
        fleet,
        np.datetime64(int(first.timestamp()), "s"),
        weather,
        timezone=scenario.timezone,
    )
    controls = _controls_for(prior, fleet, indoor_max_c[fleet.hvac.site])
    for d in range(scenario.n_days - 1):
        day = scenario.first_day + timedelta(days=d)
        start = _local_midnight(day, scenario.timezone)
        end = _local_midnight(day + timedelta(days=1), scenario.timezone)
        state, energy = model.simulate(
            fleet,
            state,
            np.datetime64(int(start.timestamp()), "s"),
            np.datetime64(int(end.timestamp()), "s"),
            STEP_S,
            weather,
            base_load_kw,
            scenario.timezone,
            controls,
            base_load_first_day=scenario.first_day,
            battery_reserve_fraction=battery_reserve[fleet.battery.site],
            water_heater_min_c=tank_min_c,
        )
        with transaction(factory) as session:
            store_meter_days(session, enrolled.site_ids, energy, day, scenario.timezone)
        if on_day is not None:
            on_day()
    _record_prior_events(factory, enrolled, prior)
    return state


def _record_prior_events(
    factory: sessionmaker[Session], enrolled: Enrolled, prior: list[PriorEvent]
) -> None:
    hvac_device = {}
    for device_id, kind, site_pos in zip(
        enrolled.device_ids.tolist(),
        enrolled.device_kind,
        _device_sites(enrolled),
        strict=True,
    ):
        if kind == "hvac":
            hvac_device[site_pos] = device_id
    with transaction(factory) as session:
        for event in prior:
            request = FlexibilityRequest(
                requester="demo grid operator (history)",
                received_at=event.start - timedelta(days=1),
                start=event.start,
                end=event.end,
                target_kw=0.0,
                event_class="reliability",
            )
            session.add(request)
            session.flush()
            row = Event(
                request_id=request.id,
                program_id=enrolled.program_id,
                status="completed",
                start=event.start,
                end=event.end,
                target_kw=0.0,
                created_at=request.received_at,
                summary={"history": True},
            )
            session.add(row)
            session.flush()
            insert_rows(
                session,
                Participation,
                [
                    {
                        "event_id": row.id,
                        "site_id": int(enrolled.site_ids[s]),
                        "device_id": hvac_device[s],
                        "role": "planned",
                        "predicted_flex_kw": 0.0,
                        "planned_fraction": 1.0,
                        "dispatched_at": event.start,
                        "released_at": event.end,
                        "release_reason": "event_end",
                    }
                    for s in np.flatnonzero(event.participants).tolist()
                ],
            )


def _device_sites(enrolled: Enrolled) -> list[int]:
    position = {int(s): i for i, s in enumerate(enrolled.site_ids.tolist())}
    return [position[s] for s in enrolled.device_site_ids.tolist()]
