"""Notices stored by the CLI or the API go out when the event's process runs."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from rich.console import Console
from sqlalchemy import select

from coflex.adapters.store.database import open_engine, session_factory
from coflex.adapters.store.models import Event, Notice, Participation, Site
from coflex.services import demo, opt_outs


def test_opt_out_notice_sent_on_resume(tmp_path: Path) -> None:
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
    event_id = int(demo.run_demo(options, console=Console(quiet=True))["event_id"])
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
