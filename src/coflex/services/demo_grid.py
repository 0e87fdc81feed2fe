"""A demo fleet that takes its flexibility requests from a grid protocol.

:func:`build_grid_fleet` enrolls the demo's customers and simulates their
history as ``coflex demo`` does, then stops before the event: the request
comes from an OpenADR VTN instead. The OpenADR integration tests and the
upstream event benchmark use it.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
from rich.console import Console
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from coflex.adapters.devices.simulated import SimulatedFleet
from coflex.adapters.readers.household import load_household_load
from coflex.adapters.readers.weather import read_weather
from coflex.adapters.store.database import migrate, open_engine, session_factory
from coflex.domain.programs import ProgramTerms
from coflex.services import demo
from coflex.services.scenario import Scenario, choose_scenario
from coflex.services.simulated_forecast import SimulatedForecaster


@dataclass
class GridFleet:
    """An enrolled demo fleet waiting for a grid request.

    ``ready_at`` is the time on the fleet's calendar at which the fleet
    is: the program's notice lead time plus ten minutes before the
    scenario's event start.
    """

    engine: Engine
    factory: sessionmaker[Session]
    program_id: int
    terms: ProgramTerms
    scenario: Scenario
    fleet: SimulatedFleet
    forecaster: SimulatedForecaster
    ready_at: datetime

    def clock_for(self, wall_start: datetime) -> Callable[[datetime], datetime]:
        """Return a map from wall-clock times onto the fleet's calendar.

        ``wall_start`` lands on the scenario's event start; other times keep
        their distance from it, floored to the simulation's step.
        """
        offset = self.scenario.start - wall_start
        step_s = self.fleet.step_s

        def to_fleet_time(wall: datetime) -> datetime:
            shifted = wall + offset
            excess_s = shifted.timestamp() % step_s
            return shifted - timedelta(seconds=excess_s)

        return to_fleet_time


def build_grid_fleet(
    database_url: str, customers: int, seed: int, output_dir: Path
) -> GridFleet:
    """Enroll ``customers`` demo customers and simulate their 45 days of history.

    Parameters
    ----------
    database_url
        The store; migrated to the newest revision first.
    customers
        Number of customers to enroll.
    seed
        Seed that makes the fleet repeatable.
    output_dir
        Folder for the customers' enrollment documents.
    """
    options = demo.DemoOptions(
        database_url=database_url,
        customers=customers,
        seed=seed,
        weather_path=None,
        timezone="America/New_York",
        output_dir=output_dir,
        override_share=0.0,
        target_kw=None,
        event_start_local=None,
        event_end_local=None,
        show_progress=False,
    )
    weather = read_weather(None)
    scenario = choose_scenario(
        weather,
        options.timezone,
        max_heat_index_c=demo.TERMS.limits.heat_index_suspend_c,
    )
    engine = open_engine(database_url)
    migrate(engine)
    factory = session_factory(engine)
    rng = np.random.default_rng(seed)
    output_dir.mkdir(parents=True, exist_ok=True)
    progress = demo._progress(Console(file=io.StringIO()), enabled=False)
    world = demo._enroll(
        factory, options, scenario, weather, load_household_load(), rng, progress
    )
    fleet = _fleet_adapter(world, scenario, weather)
    ready_at = scenario.start - timedelta(
        seconds=demo.TERMS.min_notice_s + demo.NOTICE_SLACK_S
    )
    fleet.advance(ready_at)
    forecaster = SimulatedForecaster(
        fleet,
        weather,
        planning_margin_c=demo.PLANNING_MARGIN_C,
        planning_margin_soc=demo.PLANNING_MARGIN_SOC,
    )
    return GridFleet(
        engine,
        factory,
        world.program_id,
        demo.TERMS,
        scenario,
        fleet,
        forecaster,
        ready_at,
    )


def _fleet_adapter(world: demo.World, scenario: Scenario, weather) -> SimulatedFleet:  # type: ignore[no-untyped-def]
    enrolled = world.enrolled
    return SimulatedFleet(
        world.fleet,
        world.state,
        weather,
        scenario.timezone,
        enrolled.device_ids,  # type: ignore[attr-defined]
        enrolled.device_kind,  # type: ignore[attr-defined]
        enrolled.device_model_index,  # type: ignore[attr-defined]
        world.base_load,
        scenario.first_day,
        battery_reserve_fraction=world.reserve,
        water_heater_min_c=world.tank_min,
        meter_from=datetime.combine(
            scenario.event_day, time(), ZoneInfo(scenario.timezone)
        ),
        step_s=300,
    )
