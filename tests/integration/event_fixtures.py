"""A prepared event on a small demo fleet, stopped before it runs.

:func:`coflex.services.demo_grid.build_grid_fleet` enrolls the fleet with its
history and contracts as the demo does. The tests then change, cancel or opt
out of the event before handing it to a real :class:`EventRunner`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from coflex.adapters.devices.simulated import SimulatedFleet
from coflex.adapters.notices.simulated import DeliveryReceipt, SimulatedNoticeChannels
from coflex.adapters.store.models import Event, Program
from coflex.domain.operations.notice import Channel
from coflex.services import demo, dispatch, events
from coflex.services.demo_grid import build_grid_fleet
from coflex.services.scenario import Scenario


class UndeliveredFor:
    """Notice channels on which the notices sent at chosen positions never arrive.

    Positions count every notice sent through these channels, from 0, across
    calls: the notice outbox sends one notice per call. Every other notice
    arrives 60 s after it is sent. This is the fault a real SMTP or SMS
    provider shows when a receipt never comes.
    """

    def __init__(self, undelivered: set[int]) -> None:
        self.undelivered = undelivered
        self.sent = 0

    def send(self, channels: list[Channel], sent_at: datetime) -> list[DeliveryReceipt]:
        first, self.sent = self.sent, self.sent + len(channels)
        return [
            DeliveryReceipt(
                channel,
                sent_at,
                None
                if first + i in self.undelivered
                else sent_at + timedelta(seconds=60),
            )
            for i, channel in enumerate(channels)
        ]


@dataclass
class StagedEvent:
    engine: Engine
    factory: sessionmaker[Session]
    prepared: events.PreparedEvent
    adapter: SimulatedFleet
    scenario: Scenario
    program_id: int
    aggregator_id: int

    def runner(self) -> dispatch.EventRunner:
        """Build the runner at the event's stored start, as the demo does."""
        with self.factory() as session:
            event = session.get(Event, self.prepared.event_id)
            assert event is not None
            start = event.start
        self.adapter.advance(start)
        twin = self.adapter.copy()
        self.adapter.step_s = twin.step_s = dispatch.STEP_S
        return dispatch.EventRunner(self.factory, self.prepared, self.adapter, twin)


def stage_event(
    url: str,
    output: Path,
    *,
    customers: int = 30,
    seed: int = 3,
    notice_lead_s: int | None = None,
    channels: object | None = None,
) -> StagedEvent:
    """Enroll a demo fleet and prepare its event up to the notices.

    ``notice_lead_s`` moves the request's receipt to that long before the
    start. By default the request comes the program's lead time plus ten
    minutes ahead.
    """
    grid = build_grid_fleet(url, customers, seed, output)
    options = replace(_OPTIONS, customers=customers)
    request = demo._request(grid.scenario, demo._target_kw(options))
    if notice_lead_s is not None:
        request = replace(
            request, received_at=request.start - timedelta(seconds=notice_lead_s)
        )
    grid.fleet.advance(request.received_at)
    prepared = events.prepare_event(
        grid.factory,
        grid.program_id,
        grid.terms,
        request,
        grid.forecaster,
        channels or SimulatedNoticeChannels(np.random.default_rng(seed)),  # type: ignore[arg-type]
    )
    with grid.factory() as session:
        program = session.get(Program, grid.program_id)
        assert program is not None
        aggregator_id = program.aggregator_id
    return StagedEvent(
        grid.engine,
        grid.factory,
        prepared,
        grid.fleet,
        grid.scenario,
        grid.program_id,
        aggregator_id,
    )


# Only ``customers`` varies; the target is 0.5 kW per customer, as in the demo.
_OPTIONS = demo.DemoOptions(
    database_url=None,
    customers=30,
    seed=3,
    weather_path=None,
    timezone="America/New_York",
    output_dir=Path("."),
    override_share=0.0,
    target_kw=None,
    event_start_local=None,
    event_end_local=None,
    show_progress=False,
)
