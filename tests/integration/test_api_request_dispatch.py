"""A grid operator's request through the API is planned, notified and dispatched.

The web server validates and stores the request; the process that runs the
fleet (here the demo's simulated fleet) plans it with
:class:`RequestPlanner` and runs it with the event runner.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from web_fixtures import BASE_URL, Login, bearer, open_season

from coflex.adapters.notices.simulated import SimulatedNoticeChannels
from coflex.adapters.store.database import transaction
from coflex.adapters.store.models import DeviceCommand, Event, Notice, Program
from coflex.entrypoints.web.app import create_app
from coflex.errors import TransitionError
from coflex.services import dispatch
from coflex.services.accounts import Role, create_account
from coflex.services.demo_grid import GridFleet, build_grid_fleet
from coflex.services.request_planning import RequestPlanner

PASSWORD = "grid operator passphrase"
NOTICE = timedelta(hours=2, minutes=15)


@pytest.fixture(scope="module")
def grid_fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GridFleet]:
    folder = tmp_path_factory.mktemp("api-grid")
    url = f"sqlite:///{folder / 'coflex.sqlite'}"
    fleet = build_grid_fleet(url, 20, 3, folder / "documents")
    open_season(url, date(2030, 10, 31))
    with transaction(fleet.factory) as session:
        program = session.get(Program, fleet.program_id)
        assert program is not None
        create_account(
            session,
            "grid",
            Role.GRID_OPERATOR,
            "Distribution grid operator",
            PASSWORD,
            now=datetime.now(UTC),
            aggregator_id=program.aggregator_id,
        )
    yield fleet
    fleet.engine.dispose()


def _url(fleet: GridFleet) -> str:
    return fleet.engine.url.render_as_string(hide_password=False)


def test_api_request_runs(grid_fleet: GridFleet, tmp_path: Path) -> None:
    wall_start = (datetime.now(UTC) + NOTICE).replace(microsecond=0)
    with TestClient(create_app(_url(grid_fleet)), base_url=BASE_URL) as client:
        headers = bearer(client, Login("grid_operator", "grid", PASSWORD, ""))
        reply = client.post(
            "/api/v1/flexibility-requests",
            json={
                "program_id": grid_fleet.program_id,
                "start": wall_start.isoformat(),
                "end": (wall_start + timedelta(hours=1)).isoformat(),
                "target_kw": 10.0,
                "event_class": "reliability",
            },
            headers=headers,
        )
        assert reply.status_code == 201, reply.text
        event_id = reply.json()["event_id"]

        planner = RequestPlanner(
            grid_fleet.factory,
            grid_fleet.program_id,
            grid_fleet.terms,
            grid_fleet.forecaster,
            SimulatedNoticeChannels(np.random.default_rng(5)),
            to_fleet_time=grid_fleet.clock_for(wall_start),
        )
        assert planner.waiting() == [event_id]
        prepared = planner.plan(event_id)
        assert prepared is not None
        assert prepared.plan.planned_kw > 0
        assert planner.waiting() == []
        with pytest.raises(TransitionError):
            planner.plan(event_id)

        grid_fleet.fleet.advance(prepared.request.start)
        runner = dispatch.EventRunner(
            grid_fleet.factory, prepared, grid_fleet.fleet, grid_fleet.fleet.copy()
        )
        runner.run([])
        event = client.get(f"/api/v1/events/{event_id}", headers=headers).json()
    assert event["status"] == "ended"
    with grid_fleet.factory() as session:
        notices = session.scalar(
            select(func.count()).where(Notice.event_id == event_id)
        )
        commands = session.scalar(
            select(func.count()).where(DeviceCommand.event_id == event_id)
        )
        stored = session.get(Event, event_id)
    assert notices > 0
    assert commands > 0
    assert stored is not None
    assert stored.start == wall_start
