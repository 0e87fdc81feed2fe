"""Opting out of a coming event and leaving the program, from the portal, API and CLI.

The DOE DER Aggregator Code of Conduct (2023) lets customers opt out of an
event and leave a program. coflex takes each in one step and records it. Where
the terms set an allowance, it shows the count against it.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest
from event_fixtures import StagedEvent, stage_event
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner
from web_fixtures import BASE_URL, Login, bearer, sign_in

from coflex.adapters.store.models import (
    Contract,
    DeviceCommand,
    Event,
    Notice,
    Participation,
    Site,
)
from coflex.adapters.store.models_governance import AuditEntry
from coflex.adapters.store.models_notices import SiteWithdrawal
from coflex.adapters.store.models_web import Account
from coflex.entrypoints.cli import app as cli_app
from coflex.entrypoints.web.app import create_app
from coflex.services import demo, demo_accounts


@pytest.fixture
def staged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    # Terms with an allowance: one free opt-out or override a season.
    monkeypatch.setattr(demo, "TERMS", replace(demo.TERMS, free_opt_outs_per_season=1))
    url = f"sqlite:///{tmp_path / 'coflex.sqlite'}"
    event = stage_event(url, tmp_path / "out")
    credentials = demo_accounts.create_demo_accounts(
        event.factory, event.aggregator_id, "US-NC", event.prepared, set()
    )
    logins = {
        c.username: Login(c.role.value, c.username, c.secret, c.note)
        for c in credentials
    }
    yield url, event, logins
    event.engine.dispose()


def _customers_in_event(logins: dict[str, Login]) -> list[Login]:
    return [
        login
        for login in logins.values()
        if login.role == "customer" and login.note == "in the event"
    ]


def _site_of(event: StagedEvent, username: str) -> tuple[int, int]:
    with event.factory() as session:
        customer_id = session.scalar(
            select(Account.customer_id).where(Account.username == username)
        )
        site_id = session.scalar(select(Site.id).where(Site.customer_id == customer_id))
    assert customer_id is not None and site_id is not None
    return int(customer_id), int(site_id)


def _curtailed_sites(event: StagedEvent) -> set[int]:
    with event.factory() as session:
        return set(
            session.scalars(
                select(Participation.site_id)
                .join(
                    DeviceCommand,
                    (DeviceCommand.device_id == Participation.device_id)
                    & (DeviceCommand.event_id == Participation.event_id),
                )
                .where(
                    Participation.event_id == event.prepared.event_id,
                    DeviceCommand.action == "curtail",
                )
            ).all()
        )


def test_portal_opt_out_excludes_site(staged) -> None:  # type: ignore[no-untyped-def]
    url, event, logins = staged
    login = _customers_in_event(logins)[0]
    customer_id, site_id = _site_of(event, login.username)
    with TestClient(create_app(url), base_url=BASE_URL) as client:
        csrf = sign_in(client, login)
        portal = client.get("/portal").text
        assert "Opt out of this event" in portal
        assert "0 this season (0 opt-outs, 0 overrides), of 1 free a season." in portal
        form = re.search(r'action="/portal/opt-outs">(.*?)</form>', portal, re.S)
        assert form is not None
        event_id = int(re.search(r'name="event_id" value="(\d+)"', form.group(1))[1])  # type: ignore[index]
        pressed = client.post(
            "/portal/opt-outs",
            data={"event_id": event_id, "site_id": site_id, "csrf_token": csrf},
            follow_redirects=False,
        )
        assert pressed.status_code == 303
        confirmation = client.get(pressed.headers["location"]).text
        assert "Done. You opted out" in confirmation
        assert "1 this season (1 opt-outs, 0 overrides), of 1 free a season." in (
            confirmation
        )
        after = client.get("/portal").text
        assert "You opted out of this event." in after
        assert "Opt out of this event" not in after
        again = client.post(
            "/portal/opt-outs",
            data={"event_id": event_id, "site_id": site_id, "csrf_token": csrf},
            follow_redirects=False,
        )
        assert again.headers["location"] == pressed.headers["location"]

    with event.factory() as session:
        withdrawals = session.scalars(select(SiteWithdrawal)).all()
        audited = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "opt_out_recorded")
        ).all()
        confirmation_notice = session.scalar(
            select(Notice).where(Notice.kind == "opt_out")
        )
    assert len(withdrawals) == 1
    assert withdrawals[0].site_id == site_id
    assert withdrawals[0].reason == "opted_out"
    assert withdrawals[0].channel == "portal"
    assert len(audited) == 1
    assert audited[0].customer_id == customer_id
    assert confirmation_notice is not None
    assert confirmation_notice.customer_id == customer_id

    planned_before = event.prepared.plan.planned_kw
    runner = event.runner()
    outcome = runner.run([])
    assert site_id not in _curtailed_sites(event)
    assert _curtailed_sites(event)
    assert outcome.withdrawn_sites["opted_out"] == 1
    assert outcome.reserve_called > 0 or runner.current_plan.planned_kw >= (
        planned_before * 0.95
    )


def test_api_opt_out_and_operator_change(staged) -> None:  # type: ignore[no-untyped-def]
    url, event, logins = staged
    login = _customers_in_event(logins)[1]
    _, site_id = _site_of(event, login.username)
    event_id = event.prepared.event_id
    with TestClient(create_app(url), base_url=BASE_URL) as client:
        customer = bearer(client, login)
        reply = client.post(
            "/api/v1/opt-outs",
            json={"event_id": event_id, "site_id": site_id},
            headers=customer,
        )
        assert reply.status_code == 201, reply.text
        assert "You opted out" in reply.json()["confirmation"]
        repeat = client.post(
            "/api/v1/opt-outs",
            json={"event_id": event_id, "site_id": site_id},
            headers=customer,
        )
        assert repeat.json()["id"] == reply.json()["id"]
        denied = client.post(
            f"/api/v1/events/{event_id}/cancellation",
            json={"reason": "x"},
            headers=customer,
        )
        assert denied.status_code == 403

        operator = bearer(client, logins["operator"])
        bad = client.post(
            f"/api/v1/events/{event_id}/change",
            json={"reason": "x", "target_kw": event.prepared.request.target_kw},
            headers=operator,
        )
        assert bad.status_code == 422
        assert "leaves the window and the target as they are" in bad.text
        # The demo event lies before today's date, and the API checks the new
        # start against the wall clock, so an unchanged start is in the past.
        past = client.post(
            f"/api/v1/events/{event_id}/change",
            json={"reason": "x", "target_kw": 5.0},
            headers=operator,
        )
        assert past.status_code == 422
        assert "not in the future" in past.text
        cancelled = client.post(
            f"/api/v1/events/{event_id}/cancellation",
            json={"reason": "grid no longer short"},
            headers=operator,
        )
        assert cancelled.status_code == 200, cancelled.text
        assert cancelled.json()["notices"] > 0
        late = client.post(
            "/api/v1/opt-outs",
            json={"event_id": event_id, "site_id": _site_of(
                event, _customers_in_event(logins)[0].username
            )[1]},
            headers=bearer(client, _customers_in_event(logins)[0]),
        )
        assert late.status_code == 409
        assert "cancelled" in late.text
    with event.factory() as session:
        status = session.scalar(select(Event.status).where(Event.id == event_id))
    assert status == "cancelled"


def test_portal_leave_program(staged) -> None:  # type: ignore[no-untyped-def]
    url, event, logins = staged
    login = _customers_in_event(logins)[0]
    customer_id, site_id = _site_of(event, login.username)
    with TestClient(create_app(url), base_url=BASE_URL) as client:
        csrf = sign_in(client, login)
        portal = client.get("/portal").text
        assert "Leave this program" in portal
        reply = client.post(
            "/portal/leave",
            data={"program_id": event.program_id, "csrf_token": csrf},
        )
        assert reply.status_code == 200, reply.text
        assert "You left the program" in reply.text
        assert "taken out of 1 coming event" in reply.text
        assert "Leave this program" not in client.get("/portal").text
    with event.factory() as session:
        contract = session.scalar(
            select(Contract).where(Contract.customer_id == customer_id)
        )
        withdrawal = session.scalar(
            select(SiteWithdrawal).where(SiteWithdrawal.site_id == site_id)
        )
    assert contract is not None and contract.status in ("terminated", "cancelled")
    assert withdrawal is not None and withdrawal.reason == "left_program"


def test_cli_opt_out_change_cancel(staged) -> None:  # type: ignore[no-untyped-def]
    url, event, logins = staged
    login = _customers_in_event(logins)[0]
    _, site_id = _site_of(event, login.username)
    event_id = event.prepared.event_id
    request = event.prepared.request
    at = (request.received_at).isoformat()
    runner = CliRunner()
    opted = runner.invoke(
        cli_app,
        ["event", "opt-out", str(event_id), str(site_id), "--at", at, "--database", url],
    )
    assert opted.exit_code == 0, opted.output
    assert f"site {site_id} opted out of event {event_id}" in opted.output
    later = (request.start + (request.end - request.start) / 4).isoformat()
    changed = runner.invoke(
        cli_app,
        [
            "event", "change", str(event_id), "--start", later, "--at", at,
            "--reason", "peak moved", "--database", url,
        ],
    )
    assert changed.exit_code == 0, changed.output
    assert "change notices queued" in changed.output
    wrong = runner.invoke(
        cli_app,
        ["event", "change", str(event_id), "--end", at, "--at", at, "--database", url],
    )
    assert wrong.exit_code == 2
    assert "is not after the new start" in wrong.output
    cancelled = runner.invoke(
        cli_app,
        ["event", "cancel", str(event_id), "--at", at, "--database", url],
    )
    assert cancelled.exit_code == 0, cancelled.output
    with event.factory() as session:
        stored = session.get(Event, event_id)
        kinds = session.scalars(
            select(Notice.kind).where(Notice.event_id == event_id)
        ).all()
    assert stored is not None and stored.status == "cancelled"
    assert stored.start.isoformat() == later
    assert "change" in kinds
    assert "cancellation" in kinds


def test_statement_shows_allowance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A customer who overrode sees the count against the free allowance."""
    from rich.console import Console

    from coflex.adapters.store.database import open_engine, session_factory
    from coflex.adapters.store.models import Override, Statement

    monkeypatch.setattr(demo, "TERMS", replace(demo.TERMS, free_opt_outs_per_season=2))
    url = f"sqlite:///{tmp_path / 'coflex.sqlite'}"
    options = demo.DemoOptions(
        database_url=url,
        customers=30,
        seed=3,
        weather_path=None,
        timezone="America/New_York",
        output_dir=tmp_path / "out",
        override_share=0.3,
        target_kw=None,
        event_start_local=None,
        event_end_local=None,
        show_progress=False,
    )
    demo.run_demo(options, console=Console(quiet=True))
    engine = open_engine(url)
    with session_factory(engine)() as session:
        overriding = set(
            session.scalars(
                select(Site.customer_id).join(Override, Override.site_id == Site.id)
            ).all()
        )
        statements = session.scalars(select(Statement)).all()
    engine.dispose()
    assert overriding
    shown = {s.customer_id for s in statements if "1 this season (0 opt-outs, 1 " in s.html}
    assert shown == overriding & {s.customer_id for s in statements}
    assert shown
    for statement in statements:
        assert "of 2 free a season." in statement.html
