"""A whole event on a small fleet, on SQLite and PostgreSQL, checked from the records.

The checks read the stored records, not the summary, so that a regulator's view
of the event is what is tested.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import timedelta
from pathlib import Path

import pytest
from rich.console import Console
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from coflex.adapters.store.models import (
    Baseline,
    DeviceCommand,
    EligibilityDecision,
    Event,
    Notice,
    Override,
    Participation,
    Settlement,
    Statement,
)
from coflex.services.demo import DemoOptions, run_demo
from coflex.services.dispatch import STEP_S


def run(url: str, output: Path, **changes: object) -> dict:
    options = DemoOptions(
        database_url=url,
        customers=int(changes.pop("customers", 60)),
        seed=int(changes.pop("seed", 3)),
        weather_path=None,
        timezone="America/New_York",
        output_dir=output,
        override_share=float(changes.pop("override_share", 0.2)),
        target_kw=None,
        event_start_local=None,
        event_end_local=None,
        show_progress=False,
    )
    return run_demo(options, console=Console(quiet=True))


@pytest.fixture
def event_run(database_url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    summary = run(database_url, tmp_path)
    engine = create_engine(
        database_url.replace("postgresql://", "postgresql+psycopg://")
    )
    with Session(engine) as session:
        yield summary, session, tmp_path
    engine.dispose()


def test_summary_invariants(event_run) -> None:  # type: ignore[no-untyped-def]
    summary, _, output = event_run
    assert summary["notices_late_dispatched"] == 0
    assert summary["safety_violations"] == 0
    assert summary["customers"] == 60
    assert summary["dispatched"] > 0
    assert summary["statements"] == summary["dispatched"]
    assert (
        json.loads((output / "summary.json").read_text())["event_id"]
        == summary["event_id"]
    )
    assert (output / "event-report.html").stat().st_size > 10_000


def test_every_site_has_decision(event_run) -> None:  # type: ignore[no-untyped-def]
    summary, session, _ = event_run
    sites = session.scalars(
        select(EligibilityDecision.site_id).where(
            EligibilityDecision.event_id == summary["event_id"],
            EligibilityDecision.device_id.is_(None),
        )
    ).all()
    assert len(set(sites)) == summary["customers"]
    assert len(sites) == summary["customers"]  # one final decision per site
    reasons = session.scalars(
        select(EligibilityDecision.reason).where(
            EligibilityDecision.event_id == summary["event_id"],
            EligibilityDecision.eligible.is_(False),
        )
    ).all()
    assert all(reasons)


def test_late_notice_never_dispatched(event_run) -> None:  # type: ignore[no-untyped-def]
    """Communications and Channels: no dispatch without notice in time."""
    summary, session, _ = event_run
    event = session.get(Event, summary["event_id"])
    lead = timedelta(hours=2)
    in_time = {
        customer_id
        for customer_id, delivered in session.execute(
            select(Notice.customer_id, Notice.delivered_at).where(
                Notice.event_id == event.id, Notice.kind == "pre_event"
            )
        )
        if delivered is not None and delivered <= event.start - lead
    }
    dispatched = session.execute(
        select(Participation.site_id, Statement.customer_id)
        .join(Settlement, Settlement.site_id == Participation.site_id)
        .join(Statement, Statement.customer_id == Settlement.customer_id)
        .where(
            Participation.event_id == event.id, Participation.dispatched_at.is_not(None)
        )
    ).all()
    assert dispatched
    assert {customer for _, customer in dispatched} <= in_time


def test_overrides_honoured_within_step(event_run) -> None:  # type: ignore[no-untyped-def]
    """Automation Transparency: an override releases the site within 60 s."""
    summary, session, _ = event_run
    overrides = session.scalars(
        select(Override).where(Override.event_id == summary["event_id"])
    ).all()
    assert len(overrides) == summary["overrides"] > 0
    for override in overrides:
        assert override.honoured_at - override.requested_at <= timedelta(seconds=STEP_S)
        assert override.penalty == 0.0
        later = session.scalars(
            select(DeviceCommand)
            .join(
                Participation,
                (Participation.device_id == DeviceCommand.device_id)
                & (Participation.event_id == DeviceCommand.event_id),
            )
            .where(
                DeviceCommand.event_id == summary["event_id"],
                Participation.site_id == override.site_id,
                DeviceCommand.action == "curtail",
                DeviceCommand.issued_at > override.honoured_at,
            )
        ).all()
        assert later == []


def test_every_device_restored(event_run) -> None:  # type: ignore[no-untyped-def]
    summary, session, _ = event_run
    commands = session.execute(
        select(DeviceCommand.device_id, DeviceCommand.action, DeviceCommand.issued_at)
        .where(DeviceCommand.event_id == summary["event_id"])
        .order_by(DeviceCommand.issued_at, DeviceCommand.id)
    ).all()
    last = {}
    for device_id, action, _ in commands:
        last[device_id] = action
    assert last
    assert set(last.values()) == {"restore"}
    assert all(ack for ack in session.scalars(select(DeviceCommand.acknowledged_at)))


def test_energy_accounts_balance(event_run) -> None:  # type: ignore[no-untyped-def]
    summary, session, _ = event_run
    settlements = session.scalars(
        select(Settlement).where(Settlement.event_id == summary["event_id"])
    ).all()
    assert settlements
    for row in settlements:
        shares = row.shares
        parts = (
            shares["customer"]
            + shares["aggregator"]
            + shares["grid"]
            + shares["society"]
        )
        assert parts == pytest.approx(shares["total"], abs=0.005)
        assert shares["customer"] == pytest.approx(row.payment, abs=0.005)
        assert row.payment >= 0.0
    total = sum(row.payment for row in settlements)
    assert total == pytest.approx(summary["payments_total"], abs=0.01)
    delivered = sum(
        session.scalars(
            select(Baseline.delivered_kwh).where(
                Baseline.event_id == summary["event_id"]
            )
        )
    )
    assert delivered == pytest.approx(summary["delivered_kwh"], rel=1e-6, abs=1e-6)


def test_statement_per_participant(event_run) -> None:  # type: ignore[no-untyped-def]
    summary, session, output = event_run
    statements = session.scalars(
        select(Statement).where(Statement.event_id == summary["event_id"])
    ).all()
    files = list((output / "customers").glob("*/statement.html"))
    assert len(statements) == len(files) == summary["statements"]
    text = files[0].read_text()
    assert "<svg" in text
    assert "kWh" in text
    assert "CO₂" in text
    assert "If you disagree" in text


def test_after_event_notices(event_run) -> None:  # type: ignore[no-untyped-def]
    summary, session, _ = event_run
    after = session.scalars(
        select(Notice).where(
            Notice.event_id == summary["event_id"], Notice.kind == "after_event"
        )
    ).all()
    assert len(after) == summary["statements"]
    per_customer = defaultdict(int)
    for notice in after:
        per_customer[notice.customer_id] += 1
    assert max(per_customer.values()) == 1


def test_automation_document_per_customer(event_run) -> None:  # type: ignore[no-untyped-def]
    """Automation Transparency: every customer gets the account of their control."""
    from coflex.adapters.store.models_operations import AutomationDocument

    summary, session, output = event_run
    documents = session.scalars(select(AutomationDocument)).all()
    assert len(documents) == summary["customers"]
    files = list((output / "customers").glob("*/automation.html"))
    assert len(files) == summary["customers"]
    text = files[0].read_text()
    assert "Override" in text
    assert "no penalty" in text.lower()
    assert "events a season" in text


def test_reminders_only_for_notified(event_run) -> None:  # type: ignore[no-untyped-def]
    summary, session, _ = event_run
    event = session.get(Event, summary["event_id"])
    notices = session.scalars(select(Notice).where(Notice.event_id == event.id)).all()
    reminded = {n.customer_id for n in notices if n.kind == "reminder"}
    in_time = {
        n.customer_id
        for n in notices
        if n.kind == "pre_event"
        and n.delivered_at is not None
        and n.delivered_at <= event.start - timedelta(hours=2)
    }
    assert reminded
    assert reminded <= in_time
    for notice in notices:
        if notice.kind == "reminder":
            assert notice.created_at == event.start - timedelta(minutes=30)


def test_season_totals_match_event(event_run) -> None:  # type: ignore[no-untyped-def]
    """Shared benefits per season add up from the settled events."""
    summary, _, output = event_run
    season = summary["season_to_date"]
    assert season["events"] == 1
    assert season["customer"] == pytest.approx(summary["payments_total"], abs=0.01)
    parts = season["customer"] + season["aggregator"] + season["grid"] + season["society"]
    assert parts == pytest.approx(season["total"], abs=0.05)
    assert "Season to date" in (output / "event-report.html").read_text()
