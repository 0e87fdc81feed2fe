"""An override pressed on the web during a running event releases the devices.

Customers can override an event at any time, and coflex honours an override
within the 60-second dispatch step.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from web_fixtures import (
    BASE_URL,
    DemoThread,
    bearer,
    demo_options,
    first_of,
    read_credentials,
    sign_in,
    wait_for,
)

from coflex.adapters.store.database import open_engine, session_factory
from coflex.adapters.store.models import Event, Override, Participation, Site
from coflex.adapters.store.models_web import Account, PendingOverride
from coflex.entrypoints.web.app import create_app

pytestmark = pytest.mark.slow


def _event_running(factory) -> bool:  # type: ignore[no-untyped-def]
    with factory() as session:
        return (
            session.scalar(select(Event.status).where(Event.status == "running"))
            is not None
        )


def _customer_site(factory, username: str) -> int:  # type: ignore[no-untyped-def]
    with factory() as session:
        customer_id = session.scalar(
            select(Account.customer_id).where(Account.username == username)
        )
        return int(
            session.scalar(select(Site.id).where(Site.customer_id == customer_id))
        )


@pytest.fixture
def running_event(tmp_path: Path):  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'coflex.sqlite'}"
    # 360 event seconds per wall second: the 3-hour event lasts 30 s.
    demo = DemoThread(demo_options(url, tmp_path / "out", 30, event_speed=360))
    demo.start()
    engine = open_engine(url)
    factory = session_factory(engine)
    credentials = tmp_path / "out" / "credentials.txt"
    wait_for(
        lambda: (
            demo.error is not None or (credentials.exists() and _event_running(factory))
        ),
        120,
        "the event to run",
    )
    assert demo.error is None, demo.error
    yield url, factory, read_credentials(credentials), demo
    demo.join(timeout=180)
    engine.dispose()


def test_portal_override_releases_devices(running_event) -> None:  # type: ignore[no-untyped-def]
    url, factory, logins, demo = running_event
    login = first_of(logins, "customer", "in the event")
    site_id = _customer_site(factory, login.username)
    with TestClient(create_app(url), base_url=BASE_URL) as client:
        csrf = sign_in(client, login)
        portal = client.get("/portal")
        assert "Override: stop this event at my home" in portal.text
        event_id = int(portal.text.split('name="event_id" value="')[1].split('"')[0])
        pressed = client.post(
            "/portal/overrides",
            data={"event_id": event_id, "site_id": site_id, "csrf_token": csrf},
            follow_redirects=False,
        )
        assert pressed.status_code == 303
        status_page = pressed.headers["location"]
        wait_for(
            lambda: "Done. Your devices were released" in client.get(status_page).text,
            30,
            "the override",
        )
        assert "Under control now" not in client.get(status_page).text
    demo.join(timeout=180)
    assert demo.error is None
    with factory() as session:
        override = session.scalar(select(Override).where(Override.site_id == site_id))
        released = session.scalars(
            select(Participation.release_reason).where(
                Participation.site_id == site_id, Participation.event_id == event_id
            )
        ).all()
        pending = session.scalar(
            select(PendingOverride).where(PendingOverride.site_id == site_id)
        )
    assert override is not None
    assert override.channel == "portal"
    assert (override.honoured_at - override.requested_at).total_seconds() <= 60
    assert set(released) == {"customer_override"}
    assert pending is not None and pending.status == "honoured"


def test_api_override_honoured(running_event) -> None:  # type: ignore[no-untyped-def]
    url, factory, logins, demo = running_event
    login = first_of(logins, "customer", "in the event")
    site_id = _customer_site(factory, login.username)
    with TestClient(create_app(url), base_url=BASE_URL) as client:
        headers = bearer(client, login)
        events = client.get("/api/v1/events?status=running", headers=headers).json()
        event_id = events["items"][0]["id"]
        reply = client.post(
            "/api/v1/overrides",
            json={"event_id": event_id, "site_id": site_id},
            headers=headers,
        )
        assert reply.status_code == 202, reply.text
        again = client.post(
            "/api/v1/overrides",
            json={"event_id": event_id, "site_id": site_id},
            headers=headers,
        )
        assert again.json()["id"] == reply.json()["id"]
        poll = f"/api/v1/override-requests/{reply.json()['id']}"
        wait_for(
            lambda: client.get(poll, headers=headers).json()["status"] == "honoured",
            30,
            "the override",
        )
    demo.join(timeout=180)
    with factory() as session:
        count = len(
            session.scalars(select(Override).where(Override.site_id == site_id)).all()
        )
    assert count == 1
