"""The demo: one whole flexibility event under the Code, on real input.

This module is the composition root of the demo: it wires the readers, the
store, the simulated fleet, the notice channels and the services together.
"""

from __future__ import annotations

import json
import logging
import math
import time as clock
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from sqlalchemy.engine import make_url

from coflex.adapters.devices.mqtt_session import parse_broker_url
from coflex.adapters.devices.simulated import SimulatedFleet
from coflex.adapters.readers.household import (
    assign_base_load,
    base_load_kw,
    load_household_load,
)
from coflex.adapters.readers.weather import read_weather
from coflex.adapters.readers.weather_alerts import read_weather_alerts
from coflex.adapters.store.database import (
    default_database_url,
    migrate,
    open_engine,
    session_factory,
    transaction,
)
from coflex.domain.measurement import benefits
from coflex.domain.operations.requests import FlexibilityRequest, validate_request
from coflex.domain.programs import EventClass, ProgramTerms
from coflex.errors import InputError
from coflex.services import (
    audit_anchors,
    demo_accounts,
    demo_contracts,
    demo_job,
    dispatch,
    event_resume,
    events,
    history,
    measurement,
    program_offers,
    reporting,
    transparency,
)
from coflex.services.enrollment import AggregatorProfile, enroll_fleet, register_program
from coflex.services.population import draw_population
from coflex.services.scenario import Scenario, choose_scenario, zone
from coflex.services.season import season_value
from coflex.services.simulated_forecast import SimulatedForecaster
from coflex.simulation import fleet as model

logger = logging.getLogger(__name__)

PROFILE = AggregatorProfile(
    name="Piedmont Flex Cooperative (demo)",
    jurisdiction="US-NC",
    registration_number="NC-DRP-2026-0042",
    phone="+1-336-555-0100",
    regulator="the North Carolina Utilities Commission, Public Staff Consumer Services",
)
PROGRAM_NAME = "Summer Peak Rewards"
# Portland General Electric Peak Time Rebates pay $1.00 per kWh below the baseline.
TERMS = ProgramTerms(event_class=EventClass.RELIABILITY, payment_per_kwh=1.00)
# What the utility pays the aggregator, and what the reduction is worth to the
# grid: demo contract parameters. Capacity is valued at the PJM 2025/26 RTO
# clearing price spread over 30 events a year.
VALUES = measurement.ValueRates(
    aggregator_revenue_per_kwh=1.30,
    grid_energy_value_per_kwh=0.25,
    grid_capacity_value_per_kw=benefits.capacity_value_per_kw_event(
        benefits.PJM_RPM_2025_26_USD_PER_MW_DAY, 30
    ),
)
NOTICE_SLACK_S = 10 * 60
DEFAULT_TARGET_KW_PER_CUSTOMER = 0.5
# Plans keep this far inside the limits, so that forecast error rarely brings
# a device to the watchdog's release threshold.
PLANNING_MARGIN_C = 0.5
PLANNING_MARGIN_SOC = 0.02


@dataclass(frozen=True)
class DemoOptions:
    database_url: str | None
    customers: int
    seed: int
    weather_path: Path | None
    timezone: str
    output_dir: Path
    override_share: float
    target_kw: float | None
    event_start_local: datetime | None
    event_end_local: datetime | None
    devices: str = "simulated"
    show_progress: bool = True
    # Event seconds per wall-clock second while the event runs; None runs it
    # as fast as the machine allows. Paced, the event takes web overrides live.
    event_speed: float | None = None
    # With devices="mqtt", the broker that carries the event's commands.
    broker_url: str = "mqtt://127.0.0.1:1883"
    # NWS alerts (GeoJSON or CAP 1.2) known when the request arrives.
    weather_alerts_path: Path | None = None
    # Store the planned event and stop before its first notice, for
    # `coflex event resume` to run.
    stop_before_event: bool = False


def _validate(options: DemoOptions) -> None:
    zone(options.timezone)
    if options.devices not in ("simulated", "mqtt"):
        raise InputError(
            f"unknown device adapter {options.devices!r}: "
            "use --devices simulated or --devices mqtt",
            value=options.devices,
            field="devices",
        )
    if options.devices == "mqtt":
        parse_broker_url(options.broker_url)
    if options.target_kw is not None and not 0 < options.target_kw < math.inf:
        raise InputError(
            f"target {options.target_kw!r} kW is not a positive finite number: "
            "give --target-kw above 0",
            value=options.target_kw,
            field="target_kw",
        )


def _progress(console: Console, enabled: bool) -> Progress:
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=not enabled,
        transient=False,
    )


def _locations(
    n: int, latitude: float, longitude: float, rng: np.random.Generator
) -> np.ndarray:
    """Place sites within about 30 km of the weather station."""
    return np.column_stack(
        [
            latitude + rng.uniform(-0.27, 0.27, n),
            longitude + rng.uniform(-0.33, 0.33, n),
        ]
    )


def run_demo(options: DemoOptions, *, console: Console) -> dict[str, object]:
    """Run the demo end to end and return the summary written to summary.json."""
    started = clock.perf_counter()
    _validate(options)
    weather = read_weather(options.weather_path)
    alerts = (
        read_weather_alerts(options.weather_alerts_path)
        if options.weather_alerts_path
        else []
    )
    load = load_household_load()
    scenario = choose_scenario(
        weather,
        options.timezone,
        start_local=options.event_start_local,
        end_local=options.event_end_local,
        max_heat_index_c=TERMS.limits.heat_index_suspend_c,
    )
    # The request is checked before anything is stored, so bad input leaves
    # the database and the output folder untouched.
    validate_request(_request(scenario, _target_kw(options)), TERMS)
    anchoring = audit_anchors.configured_anchoring()
    url = options.database_url or default_database_url()
    engine = open_engine(url)
    try:
        migrate(engine)
        factory = session_factory(engine)
        rng = np.random.default_rng(options.seed)
        options.output_dir.mkdir(parents=True, exist_ok=True)
        with _progress(console, options.show_progress) as progress:
            world = _enroll(factory, options, scenario, weather, load, rng, progress)
            _anchor(factory, anchoring)
            summary = _run_event(
                factory, options, scenario, weather, world, rng, progress, url, alerts
            )
            _anchor(factory, anchoring)
    finally:
        engine.dispose()
    if options.stop_before_event:
        console.print(
            f"event {summary['event_id']} is planned and stored; run it with "
            f"coflex event resume --event {summary['event_id']}"
        )
        return summary
    summary["seconds"] = round(clock.perf_counter() - started, 1)
    (options.output_dir / "summary.json").write_text(
        json.dumps(summary, indent=2) + "\n", encoding="utf-8"
    )
    _print_summary(console, summary)
    return summary


def _anchor(factory, anchoring) -> None:  # type: ignore[no-untyped-def]
    """Append a signed anchor of the audit log's head, when anchoring is set up."""
    if anchoring is not None:
        with factory() as session:
            audit_anchors.write_anchor(session, *anchoring, datetime.now(UTC))


@dataclass
class World:
    aggregator_id: int
    program_id: int
    fleet: model.FleetModel
    enrolled: object
    base_load: np.ndarray
    state: model.FleetState
    limits_max_c: np.ndarray
    reserve: np.ndarray
    tank_min: np.ndarray
    vulnerable: np.ndarray


def _enroll(factory, options, scenario, weather, load, rng, progress) -> World:  # type: ignore[no-untyped-def]
    task = progress.add_task("Enrolling customers", total=3)
    aggregator_id, program_id = register_program(
        factory,
        PROFILE,
        PROGRAM_NAME,
        TERMS,
        (date(scenario.event_day.year, 5, 1), date(scenario.event_day.year, 10, 31)),
        scenario.start - timedelta(days=500),
        # The demo's registration runs a year past the event.
        registration_expires_at=scenario.end + timedelta(days=365),
    )
    with transaction(factory) as session:
        program_offers.store_program_offer(
            session,
            program_id,
            demo_contracts.demo_offer(PROFILE, PROGRAM_NAME),
            scenario.start - timedelta(days=500),
        )
    n = options.customers
    population = draw_population(n, rng)
    fleet = model.build_fleet(n, rng, latitude=weather.latitude)
    assignment = assign_base_load(load, n, scenario.first_day, scenario.n_days, rng)
    base = base_load_kw(load, assignment, scenario.first_day, scenario.n_days + 1)
    progress.advance(task)
    locations = _locations(n, weather.latitude, weather.longitude, rng)
    enrolled = enroll_fleet(
        factory,
        aggregator_id,
        program_id,
        TERMS,
        population,
        fleet,
        assignment,
        locations,
        options.timezone,
        scenario.start,
    )
    progress.advance(task)
    contracts = progress.add_task("Offering and signing contracts", total=n)
    demo_contracts.enroll_demo_contracts(
        factory,
        demo_contracts.demo_offer(PROFILE, PROGRAM_NAME),
        TERMS,
        population,
        enrolled,
        base,
        weather,
        options.timezone,
        scenario.n_days - 1,
        scenario.start,
        options.output_dir,
        on_customer=lambda: progress.advance(contracts),
    )
    limits = TERMS.limits
    vulnerable = population.vulnerable_occupants
    limits_max = np.where(
        vulnerable, limits.indoor_max_vulnerable_c, limits.indoor_max_c
    )
    reserve = np.full(n, limits.battery_reserve_fraction)
    tank_min = np.full(n, limits.water_heater_min_c)
    prior = history.plan_prior_events(scenario, population, fleet, TERMS)
    progress.advance(task)

    days = progress.add_task("Simulating 45 days of history", total=scenario.n_days - 1)
    state = history.simulate_history(
        factory,
        scenario,
        fleet,
        weather,
        base,
        enrolled,
        prior,
        indoor_max_c=limits_max,
        battery_reserve=reserve,
        tank_min_c=tank_min,
        on_day=lambda: progress.advance(days),
    )
    return World(
        aggregator_id,
        program_id,
        fleet,
        enrolled,
        base,
        state,
        limits_max,
        reserve,
        tank_min,
        vulnerable,
    )


def _overrides(
    prepared: events.PreparedEvent, share: float, rng: np.random.Generator
) -> list[dispatch.OverrideRequest]:
    """Pick the customers who override, and when, among those planned to dispatch.

    The pick is made before the notices go out; the run drops the overrides
    of sites whose notice came late, which are not dispatched.
    """
    planned = prepared.plan.fraction > 0
    sites = np.unique(
        prepared.index.device_site[prepared.candidate_device_pos[planned]]
    )
    count = int(round(share * len(sites)))
    chosen = (
        rng.choice(sites, size=count, replace=False) if count else np.zeros(0, np.int64)
    )
    duration = prepared.request.duration_s
    channels = ("app", "portal", "thermostat")
    return [
        dispatch.OverrideRequest(
            site_pos=int(s),
            requested_at=prepared.request.start
            + timedelta(seconds=float(rng.uniform(60, duration - 60))),
            channel=channels[int(rng.integers(0, 3))],
        )
        for s in chosen
    ]


def _run_event(
    factory,
    options,
    scenario: Scenario,
    weather,
    world: World,
    rng,
    progress,
    url,
    alerts=(),
) -> dict[str, object]:  # type: ignore[no-untyped-def]
    """Plan the event, store it as a resumable job, and run the job."""
    event_id = prepare_job(
        factory, options, scenario, weather, world, rng, progress, url, alerts
    )
    if options.stop_before_event:
        return {"event_id": event_id}
    return run_stored_event(factory, event_id, progress)


def run_stored_event(factory, event_id: int, progress) -> dict[str, object]:  # type: ignore[no-untyped-def]
    """Run a stored demo event from where it stopped; return its summary."""
    summary = demo_job.run_job(
        factory,
        event_id,
        progress,
        values=VALUES,
        terms_payment=(TERMS.payment_per_kwh, TERMS.currency),
        parties=_parties(),
        season_totals=_season_totals,
    )
    summary["event_id"] = event_id
    return summary


def prepare_job(  # type: ignore[no-untyped-def]
    factory,
    options,
    scenario: Scenario,
    weather,
    world: World,
    rng,
    progress,
    url,
    alerts=(),
) -> int:
    """Plan the event and store everything its run needs; return the event id."""
    enrolled = world.enrolled
    event_midnight = datetime.combine(
        scenario.event_day, time(), ZoneInfo(scenario.timezone)
    )
    fleet_adapter = SimulatedFleet(
        world.fleet,
        world.state,
        weather,
        scenario.timezone,
        enrolled.device_ids,
        enrolled.device_kind,
        enrolled.device_model_index,
        world.base_load,
        scenario.first_day,
        battery_reserve_fraction=world.reserve,
        water_heater_min_c=world.tank_min,
        meter_from=event_midnight,
        step_s=300,
    )
    request = _request(scenario, float(_target_kw(options)))
    received = request.received_at
    fleet_adapter.advance(received)
    forecaster = SimulatedForecaster(
        fleet_adapter,
        weather,
        planning_margin_c=PLANNING_MARGIN_C,
        planning_margin_soc=PLANNING_MARGIN_SOC,
    )
    prepared = events.plan_request(
        factory,
        world.program_id,
        TERMS,
        request,
        forecaster,
        weather_alerts=alerts,
    )
    transparency.write_automation_documents(
        factory, prepared.index, _parties(), options.output_dir, received
    )
    overrides = _overrides(prepared, options.override_share, rng)
    _create_accounts(factory, options, world, prepared, overrides, progress)
    # The run never looks at the days before the request again.
    fleet_adapter.trim_base_load(scenario.event_day - timedelta(days=2))
    shown_url = (
        make_url(url).render_as_string(hide_password=True) if "://" in url else url
    )
    job = demo_job.DemoJob(
        prepared=prepared,
        fleet=fleet_adapter,
        scenario=scenario,
        site_ids=enrolled.site_ids,
        overrides=overrides,
        output_dir=options.output_dir.resolve(),
        seed=options.seed,
        event_speed=options.event_speed,
        database_shown=shown_url,
        site_positions=demo_accounts.site_positions(prepared),
        broker_url=options.broker_url if options.devices == "mqtt" else None,
        device_kinds=list(enrolled.device_kind),
    )
    event_resume.create(factory, prepared.event_id, job, received)
    return prepared.event_id


def _create_accounts(  # type: ignore[no-untyped-def]
    factory, options: DemoOptions, world: World, prepared, overrides, progress
) -> None:
    """Create the demo accounts, with the customers who will override.

    The notices are not sent yet, so the accounts are picked among all
    planned customers, on time or not.
    """
    all_on_time = replace(
        prepared, notice_on_time=np.ones(prepared.index.n_sites, bool)
    )
    credentials = demo_accounts.create_demo_accounts(
        factory,
        world.aggregator_id,
        PROFILE.jurisdiction,
        all_on_time,
        {o.site_pos for o in overrides},
    )
    path = options.output_dir / "credentials.txt"
    demo_accounts.write_credentials(path, credentials)
    if options.show_progress:
        demo_accounts.print_credentials(progress.console, credentials, path)


def _season_totals(factory, prepared: events.PreparedEvent) -> dict[str, object]:  # type: ignore[no-untyped-def]
    with factory() as session:
        totals = season_value(
            session, prepared.index.program_id, prepared.request.start.year
        )
    totals.pop("per_customer")
    return totals


def _target_kw(options: DemoOptions) -> float:
    return options.target_kw or DEFAULT_TARGET_KW_PER_CUSTOMER * options.customers


def _request(scenario: Scenario, target_kw: float) -> FlexibilityRequest:
    """Build the grid's request, received the program's lead time plus slack ahead."""
    received = scenario.start - timedelta(seconds=TERMS.min_notice_s + NOTICE_SLACK_S)
    return FlexibilityRequest(
        requester="demo grid operator",
        received_at=received,
        start=scenario.start,
        end=scenario.end,
        target_kw=target_kw,
        event_class=TERMS.event_class,
    )


def _parties() -> reporting.Parties:
    return reporting.Parties(
        PROFILE.name,
        PROFILE.jurisdiction,
        PROFILE.registration_number,
        PROFILE.phone,
        PROFILE.regulator,
        PROGRAM_NAME,
    )


def _print_summary(console: Console, summary: dict[str, object]) -> None:
    table = Table(title="coflex demo: event summary", show_header=False)
    for key in (
        "requested_kw",
        "planned_kw",
        "delivered_kw",
        "true_reduction_kw",
        "customers",
        "eligible",
        "dispatched",
        "overrides",
        "reserve_dispatched",
        "safety_releases",
        "notices_late_dispatched",
        "safety_violations",
        "statements",
        "payments_total",
        "seconds",
    ):
        value = summary.get(key)
        table.add_row(key, f"{value:.1f}" if isinstance(value, float) else str(value))
    for reason, count in dict(summary["excluded"]).items():  # type: ignore[call-overload]
        table.add_row(f"excluded: {reason}", str(count))
    console.print(table)
