"""The demo event as a resumable job: notices, reminders, the run, settlement.

The demo stores everything the event needs in the event's checkpoint before
the first notice, then runs the stages below. Each stage can be repeated
after a crash without sending a notice or a command twice, and the run
continues from its last checkpoint (see :mod:`coflex.services.event_resume`).

=========  ===========================================================
stage      what it does
=========  ===========================================================
notify     pre-event notices, through the notice outbox
remind     reminders 30 minutes before the start
run        the event runner, checkpointed in every transaction
settle     meter readings, measurement, statements and the report
done       nothing is left
=========  ===========================================================
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
from rich.progress import Progress
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from coflex.adapters.devices.mqtt_session import start_simulation
from coflex.adapters.devices.simulated import SimulatedFleet
from coflex.adapters.notices.ledger import IdempotentChannels
from coflex.adapters.notices.simulated import SimulatedNoticeChannels
from coflex.adapters.store.database import transaction
from coflex.adapters.store.meter import store_meter_days
from coflex.adapters.store.models import Baseline, EventReport, MeterDay, Statement
from coflex.domain.measurement.settlement import PaymentRates
from coflex.errors import InputError
from coflex.services import (
    dispatch,
    event_resume,
    events,
    measurement,
    notice_outbox,
    override_inbox,
    reporting,
)
from coflex.services.scenario import Scenario

logger = logging.getLogger(__name__)

NOTICE_LEDGER = "notice-ledger.jsonl"


@dataclass
class DemoJob:
    """The fixed inputs of a demo event's run, stored in its checkpoint."""

    prepared: events.PreparedEvent
    fleet: SimulatedFleet  # at the time the request was received
    scenario: Scenario
    site_ids: np.ndarray
    overrides: list[dispatch.OverrideRequest]
    output_dir: Path
    seed: int
    event_speed: float | None
    database_shown: str
    site_positions: dict[int, int]
    # The broker of a run whose devices live in their own process, or None
    # for the in-process simulated fleet.
    broker_url: str | None = None
    device_kinds: list[str] | None = None


def run_job(
    factory: sessionmaker[Session],
    event_id: int,
    progress: Progress,
    *,
    values: measurement.ValueRates,
    terms_payment: tuple[float, str],
    parties: reporting.Parties,
    season_totals,  # type: ignore[no-untyped-def]
) -> dict[str, object]:
    """Run a stored demo event's stages from where it stopped; return its summary."""
    checkpoint = event_resume.load(factory, event_id)
    job: DemoJob = event_resume.job_of(checkpoint)
    ledger = job.output_dir / NOTICE_LEDGER
    job.output_dir.mkdir(parents=True, exist_ok=True)
    resumes = checkpoint.resumes
    rng = np.random.default_rng([job.seed, event_id, resumes])
    channels = IdempotentChannels(SimulatedNoticeChannels(rng), ledger)
    prepared = job.prepared

    if checkpoint.stage == "notify":
        events.send_notices(factory, event_id, prepared, channels)
        event_resume.set_stage(factory, event_id, "remind")
    else:
        events.load_notice_outcome(factory, prepared)
    checkpoint = event_resume.load(factory, event_id)
    if checkpoint.stage == "remind":
        events.send_reminders(factory, prepared, channels)
        event_resume.set_stage(factory, event_id, "run")
        checkpoint = event_resume.load(factory, event_id)

    # Change, cancellation and opt-out notices stored by the CLI or the API
    # since the last run go out now, and again after the run for any stored
    # while it ran.
    notice_outbox.deliver_queued(factory, event_id, channels)
    fleet, outcome = _run(factory, job, checkpoint, progress)
    notice_outbox.deliver_queued(factory, event_id, channels)
    checkpoint = event_resume.load(factory, event_id)
    if checkpoint.stage in ("run", "settle"):
        event_resume.set_stage(factory, event_id, "settle")
    summary = _settle(
        factory,
        job,
        fleet,
        outcome,
        progress,
        (values, terms_payment, parties),
        channels,
        season_totals,
    )
    event_resume.set_stage(factory, event_id, "done")
    return summary


def _run(
    factory: sessionmaker[Session],
    job: DemoJob,
    checkpoint,  # type: ignore[no-untyped-def]
    progress: Progress,
) -> tuple[SimulatedFleet, dispatch.DispatchOutcome]:
    """Run the event from its start, or resume it from its checkpoint."""
    prepared = job.prepared
    state = event_resume.runner_state(checkpoint)
    if job.broker_url is not None:
        if state is not None:
            raise InputError(
                f"event {prepared.event_id} ran its devices over MQTT, in a process "
                "that stopped with the runner, so it cannot be resumed; its devices "
                "fell back to their customers' schedules at the event end",
                value=prepared.event_id,
                field="event",
            )
        return _run_over_mqtt(factory, job, progress)
    fleet, twin, clock = _devices(job, state)
    runner = dispatch.EventRunner(factory, prepared, fleet, twin)
    steps = progress.add_task("Running the event", total=len(runner.step_times()))
    runner.on_step = lambda: progress.advance(steps)
    if clock is not None:
        runner.wait_until = clock.wait_until
    runner.override_inbox = override_inbox.DatabaseOverrideInbox(
        prepared.event_id, job.site_positions, clock
    )
    event_resume.attach(
        runner,
        lambda: {"fleet": fleet.snapshot(), "twin": twin.snapshot(), "clock": clock},
    )
    if state is None:
        overrides = [o for o in job.overrides if prepared.notice_on_time[o.site_pos]]
        outcome = runner.run(overrides)
    else:
        event_resume.count_resume(factory, prepared.event_id)
        now = clock.event_time(datetime.now(UTC)) if clock is not None else None
        event_resume.resume(factory, runner, checkpoint, state, now=now)
        outcome = runner.outcome
        outcome.shortfall_kw = runner.current_plan.shortfall_kw
        outcome.plan = runner.current_plan
    return fleet, outcome


def _devices(
    job: DemoJob, state: dict | None
) -> tuple[SimulatedFleet, SimulatedFleet, override_inbox.PacedClock | None]:
    """Return the fleet, its twin and the pacing clock at the start or as stored."""
    fleet = job.fleet
    clock = None
    if state is None:
        fleet.advance(job.scenario.start)
        twin = fleet.copy()
        if job.event_speed:
            clock = override_inbox.PacedClock(
                job.prepared.request.start, datetime.now(UTC), job.event_speed
            )
    else:
        twin = fleet.copy()
        fleet.restore(state["devices"]["fleet"])
        twin.restore(state["devices"]["twin"])
        clock = state["devices"]["clock"]
    fleet.step_s = twin.step_s = dispatch.STEP_S
    return fleet, twin, clock


def _run_over_mqtt(
    factory: sessionmaker[Session], job: DemoJob, progress: Progress
) -> tuple[SimulatedFleet, dispatch.DispatchOutcome]:
    """Run the event with the devices in their own process behind the broker."""
    prepared, fleet = job.prepared, job.fleet
    fleet.advance(job.scenario.start)
    twin = fleet.copy()
    fleet.step_s = twin.step_s = dispatch.STEP_S
    assert job.broker_url is not None and job.device_kinds is not None
    mqtt = start_simulation(fleet, job.device_kinds, job.broker_url)
    try:
        assert mqtt.gateway is not None
        runner = dispatch.EventRunner(factory, prepared, mqtt.gateway, twin)
        steps = progress.add_task("Running the event", total=len(runner.step_times()))
        runner.on_step = lambda: progress.advance(steps)
        clock = None
        if job.event_speed:
            clock = override_inbox.PacedClock(
                prepared.request.start, datetime.now(UTC), job.event_speed
            )
            runner.wait_until = clock.wait_until
        runner.override_inbox = override_inbox.DatabaseOverrideInbox(
            prepared.event_id, job.site_positions, clock
        )
        event_resume.attach(runner, lambda: None)
        overrides = [o for o in job.overrides if prepared.notice_on_time[o.site_pos]]
        outcome = runner.run(overrides)
    finally:
        fleet = mqtt.stop()
    return fleet, outcome


def _exists(factory: sessionmaker[Session], model, event_id: int) -> bool:  # type: ignore[no-untyped-def]
    with factory() as session:
        count = session.scalar(
            select(func.count()).select_from(model).where(model.event_id == event_id)
        )
    return bool(count)


def _settle(  # type: ignore[no-untyped-def]
    factory: sessionmaker[Session],
    job: DemoJob,
    fleet: SimulatedFleet,
    outcome: dispatch.DispatchOutcome,
    progress: Progress,
    rates: tuple[measurement.ValueRates, tuple[float, str], reporting.Parties],
    channels: IdempotentChannels,
    season_totals,
) -> dict[str, object]:
    """Read the meters, measure, and write statements and the report, once each.

    NOTE: the after-event statement notices are sent before their transaction
    and not through the ledger, so a crash inside that window sends them again.
    """
    values, terms_payment, parties = rates
    scenario, prepared = job.scenario, job.prepared
    event_id = prepared.event_id
    zone = ZoneInfo(scenario.timezone)
    next_midnight = datetime.combine(
        scenario.event_day + timedelta(days=1), time(), zone
    )
    fleet.step_s = 300
    fleet.advance(next_midnight)
    with transaction(factory) as session:
        stored = session.scalar(
            select(func.count())
            .select_from(MeterDay)
            .where(
                MeterDay.day == scenario.event_day,
                MeterDay.site_id.in_(job.site_ids.tolist()),
            )
        )
        if not stored:
            store_meter_days(
                session,
                job.site_ids,
                fleet.meter(),
                scenario.event_day,
                scenario.timezone,
            )

    participants = np.array(sorted(outcome.dispatched_sites), dtype=np.int64)
    overridden = np.zeros(prepared.index.n_sites, dtype=bool)
    overridden[list(outcome.overridden_sites)] = True
    m = measurement.measure_event(
        factory,
        event_id,
        prepared.index.site_id,
        participants,
        first_day=scenario.first_day,
        event_day=scenario.event_day,
        start=scenario.start,
        end=scenario.end,
        timezone=scenario.timezone,
        rates=PaymentRates(energy_per_kwh=terms_payment[0], currency=terms_payment[1]),
        values=values,
        overridden=overridden,
        customer_ids=prepared.index.customer_id,
        store=not _exists(factory, Baseline, event_id),
    )
    issued = scenario.end + timedelta(hours=1)
    if not _exists(factory, Statement, event_id):
        written = progress.add_task("Writing statements", total=len(participants))
        reporting.write_statements(
            factory,
            prepared,
            outcome,
            m,
            parties,
            values,
            job.output_dir,
            issued,
            progress=lambda: progress.advance(written),
            channels=channels.channels,
        )
    with factory() as session:
        count = int(
            session.scalar(
                select(func.count())
                .select_from(Statement)
                .where(Statement.event_id == event_id)
            )
            or 0
        )
    traces = reporting._traces(factory, event_id)
    summary = reporting.build_summary(
        prepared,
        outcome,
        m,
        traces,
        database=job.database_shown,
        statements=count,
        issued_at=issued,
        season_totals=season_totals(factory, prepared),
    )
    if not _exists(factory, EventReport, event_id):
        reporting.write_event_report(
            factory, prepared, outcome, m, parties, summary, job.output_dir, issued
        )
    return summary
