"""A demo fleet that takes its flexibility requests from the web API.

``coflex grid-demo`` enrolls the demo fleet (see
:mod:`coflex.services.demo_grid`), creates a grid operator's account, and
waits for a request through ``POST /api/v1/flexibility-requests`` of
``coflex serve`` on the same database. It then plans the request with
:class:`coflex.services.request_planning.RequestPlanner`, notifies the
customers and runs the event on the simulated fleet.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
from sqlalchemy import select

from coflex.adapters.notices.simulated import SimulatedNoticeChannels
from coflex.adapters.store.database import transaction
from coflex.adapters.store.models import Event, Program
from coflex.adapters.store.models_governance import Registration
from coflex.errors import InputError
from coflex.services import demo_accounts, dispatch
from coflex.services.accounts import Role
from coflex.services.demo_accounts import Credential
from coflex.services.demo_grid import GridFleet
from coflex.services.request_planning import RequestPlanner

logger = logging.getLogger(__name__)

# How far ahead of today the demo program's season and registration reach.
OPEN_FOR = timedelta(days=365)


@dataclass(frozen=True)
class ServedRequest:
    event_id: int
    status: str
    outcome: dispatch.DispatchOutcome | None


def open_to_api(fleet: GridFleet, now: datetime) -> list[Credential]:
    """Let the API accept requests for real times, and create the demo's accounts.

    The simulated fleet lives on its weather file's calendar, so its program's
    season and its registration end in that year. Both are extended to a year
    after ``now``, so that a grid operator can send a request for tomorrow.
    The planner maps the request's times back onto the fleet's calendar.
    """
    credentials: list[Credential] = []
    with transaction(fleet.factory) as session:
        program = session.get(Program, fleet.program_id)
        assert program is not None
        program.season_end = max(program.season_end, (now + OPEN_FOR).date())
        for registration in session.scalars(
            select(Registration).where(
                Registration.aggregator_id == program.aggregator_id
            )
        ):
            registration.expires_at = max(registration.expires_at, now + OPEN_FOR)
        for role, name, label in (
            (Role.GRID_OPERATOR, "grid-operator", "Distribution grid operator"),
            (Role.OPERATOR, "operator", "Operations desk"),
        ):
            demo_accounts._add(
                session,
                credentials,
                role,
                name,
                label,
                "",
                aggregator_id=program.aggregator_id,
            )
    return credentials


def _next_waiting(fleet: GridFleet) -> tuple[int, datetime] | None:
    with fleet.factory() as session:
        row = session.execute(
            select(Event.id, Event.start)
            .where(Event.program_id == fleet.program_id, Event.status == "received")
            .order_by(Event.start, Event.id)
            .limit(1)
        ).first()
    return (row[0], row[1]) if row else None


def serve_one_request(
    fleet: GridFleet,
    *,
    wait_s: float,
    poll_s: float = 1.0,
    seed: int = 5,
    on_planned: Callable[[int], None] | None = None,
) -> ServedRequest:
    """Wait for one API request, then plan it and run its event to the end.

    Raises
    ------
    InputError
        If no request arrives within ``wait_s`` seconds.
    """
    deadline = time.monotonic() + wait_s
    waiting = _next_waiting(fleet)
    while waiting is None:
        if time.monotonic() > deadline:
            raise InputError(
                f"no flexibility request arrived within {wait_s:g} s: send one to "
                "POST /api/v1/flexibility-requests, or wait longer with --wait",
                value=wait_s,
                field="wait",
            )
        time.sleep(poll_s)
        waiting = _next_waiting(fleet)
    event_id, wall_start = waiting
    planner = RequestPlanner(
        fleet.factory,
        fleet.program_id,
        fleet.terms,
        fleet.forecaster,
        SimulatedNoticeChannels(np.random.default_rng(seed)),
        to_fleet_time=fleet.clock_for(wall_start),
    )
    prepared = planner.plan(event_id)
    if prepared is None:
        return ServedRequest(event_id, "declined", None)
    if on_planned is not None:
        on_planned(event_id)
    # NOTE: the event runs at simulation speed, not paced to the wall clock,
    # so overrides from the portal do not reach it.
    fleet.fleet.advance(prepared.request.start)
    twin = fleet.fleet.copy()
    runner = dispatch.EventRunner(fleet.factory, prepared, fleet.fleet, twin)
    outcome = runner.run([])
    with fleet.factory() as session:
        event = session.get(Event, event_id)
        status = event.status if event is not None else "missing"
    logger.info("API request event %s finished: %s", event_id, status)
    return ServedRequest(event_id, status, outcome)


def utc_now() -> datetime:
    return datetime.now(UTC)
