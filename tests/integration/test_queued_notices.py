"""Notices stored by the CLI or the API go out when the event's process runs."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from rich.console import Console
from sqlalchemy import func, select

from coflex.adapters.store.database import open_engine, session_factory
from coflex.adapters.store.models import Event, Notice, Participation, Site
from coflex.adapters.store.models import FlexibilityRequest as RequestRow
from coflex.domain.operations.requests import FlexibilityRequest
from coflex.errors import RequestError
from coflex.services import demo, events, opt_outs


def _planned_demo(tmp_path: Path) -> tuple[str, int]:
    """Plan the demo event and stop before its first notice; return URL and id."""
    url = f"sqlite:///{tmp_path / 'queued.sqlite'}"
    options = demo.DemoOptions(
        database_url=url,
        customers=30,
        seed=4,
        weather_path=None,
        timezone="America/New_York",
        output_dir=tmp_path / "out",
        override_share=0.0,
        target_kw=None,
        event_start_local=None,
        event_end_local=None,
        show_progress=False,
        stop_before_event=True,
    )
    return url, int(demo.run_demo(options, console=Console(quiet=True))["event_id"])


def test_overlapping_request_rejected(tmp_path: Path) -> None:
    url, event_id = _planned_demo(tmp_path)
    engine = open_engine(url)
    factory = session_factory(engine)
    with factory() as session:
        event = session.get(Event, event_id)
        requests_before = session.scalar(select(func.count(RequestRow.id)))
    overlapping = FlexibilityRequest(
        requester="grid operator",
        received_at=event.start - timedelta(days=1),
        start=event.start + timedelta(hours=1),
        end=event.end + timedelta(hours=1),
        target_kw=5.0,
        event_class=demo.TERMS.event_class,
    )
    with pytest.raises(RequestError, match=f"overlaps event {event_id}"):
        events.receive_request(factory, event.program_id, demo.TERMS, overlapping)
    with factory() as session:
        requests_after = session.scalar(select(func.count(RequestRow.id)))
    engine.dispose()

    assert requests_after == requests_before


def test_opt_out_notice_sent_on_resume(tmp_path: Path) -> None:
    url, event_id = _planned_demo(tmp_path)
    engine = open_engine(url)
    factory = session_factory(engine)
    with factory() as session:
        event = session.get(Event, event_id)
        site_id, customer_id = session.execute(
            select(Participation.site_id, Site.customer_id)
            .join(Site, Site.id == Participation.site_id)
            .where(Participation.event_id == event_id)
            .order_by(Participation.site_id)
        ).first()
    opt_outs.opt_out(
        factory,
        event_id,
        site_id,
        customer_id=customer_id,
        account_id=None,
        channel="cli",
        now=event.start - timedelta(hours=1),
    )
    demo.run_stored_event(factory, event_id, demo._progress(Console(quiet=True), False))
    demo.run_stored_event(factory, event_id, demo._progress(Console(quiet=True), False))
    with factory() as session:
        confirmations = session.scalars(
            select(Notice).where(
                Notice.event_id == event_id,
                Notice.customer_id == customer_id,
                Notice.kind == "opt_out",
            )
        ).all()
        queued = session.scalars(
            select(Notice.id).where(
                Notice.event_id == event_id, Notice.status == "queued"
            )
        ).all()
    engine.dispose()

    assert len(confirmations) == 1
    assert confirmations[0].status == "delivered"
    assert confirmations[0].delivered_at is not None
    assert queued == []
    ledger = (tmp_path / "out" / "notice-ledger.jsonl").read_text(encoding="utf-8")
    assert ledger.count(f"notice:{confirmations[0].id}") == 1
