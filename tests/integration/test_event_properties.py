"""Properties of whole events over drawn fleets, seeds and override shares.

Each example runs the full event path on a small fleet in a fresh SQLite
database and checks the invariants that protect customers from the records.
"""

from __future__ import annotations

import tempfile
from datetime import timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.console import Console
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from coflex.adapters.store.models import (
    DeviceCommand,
    Event,
    Notice,
    Override,
    Participation,
    Settlement,
)
from coflex.services.demo import TERMS, DemoOptions, run_demo
from coflex.services.dispatch import STEP_S


def _run(seed: int, customers: int, share: float, folder: Path) -> tuple[dict, str]:
    url = f"sqlite:///{folder / 'p.sqlite'}"
    options = DemoOptions(
        database_url=url,
        customers=customers,
        seed=seed,
        weather_path=None,
        timezone="America/New_York",
        output_dir=folder / "out",
        override_share=share,
        target_kw=None,
        event_start_local=None,
        event_end_local=None,
        show_progress=False,
    )
    return run_demo(options, console=Console(quiet=True)), url


def _late_customers(session: Session, event: Event) -> set[int]:
    limit = event.start - timedelta(seconds=TERMS.min_notice_s)
    return {
        notice.customer_id
        for notice in session.scalars(
            select(Notice).where(
                Notice.event_id == event.id, Notice.kind == "pre_event"
            )
        )
        if notice.delivered_at is None or notice.delivered_at > limit
    }


def _check_event(session: Session, summary: dict) -> None:
    event = session.get(Event, summary["event_id"])
    assert event is not None

    # No customer notified late is dispatched.
    late = _late_customers(session, event)
    dispatched_customers = set(
        session.scalars(
            select(Settlement.customer_id).where(Settlement.event_id == event.id)
        )
    )
    assert not (late & dispatched_customers)

    # Every override is honoured within one step, and its site gets no new curtailment.
    for override in session.scalars(
        select(Override).where(Override.event_id == event.id)
    ):
        assert timedelta(0) <= override.honoured_at - override.requested_at
        assert override.honoured_at - override.requested_at <= timedelta(seconds=STEP_S)
        devices = set(
            session.scalars(
                select(Participation.device_id).where(
                    Participation.event_id == event.id,
                    Participation.site_id == override.site_id,
                )
            )
        )
        renewed = session.scalars(
            select(DeviceCommand).where(
                DeviceCommand.event_id == event.id,
                DeviceCommand.device_id.in_(devices),
                DeviceCommand.action == "curtail",
                DeviceCommand.issued_at > override.honoured_at,
            )
        ).all()
        assert renewed == []

    # The energy accounts balance: shares add up and payments follow delivered kWh.
    for row in session.scalars(
        select(Settlement).where(Settlement.event_id == event.id)
    ):
        shares = row.shares
        parts = (
            shares["customer"]
            + shares["aggregator"]
            + shares["grid"]
            + shares["society"]
        )
        assert abs(parts - shares["total"]) < 0.005
        expected = round(max(row.delivered_kwh, 0.0) * TERMS.payment_per_kwh, 2)
        assert abs(row.payment - expected) <= 0.01


@settings(
    max_examples=4,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    seed=st.integers(min_value=0, max_value=10_000),
    customers=st.integers(min_value=15, max_value=45),
    share=st.sampled_from([0.0, 0.1, 0.5, 1.0]),
)
def test_event_invariants_hold(seed: int, customers: int, share: float) -> None:
    with tempfile.TemporaryDirectory() as folder:
        summary, url = _run(seed, customers, share, Path(folder))
        assert summary["notices_late_dispatched"] == 0
        assert summary["safety_violations"] == 0
        engine = create_engine(url)
        try:
            with Session(engine) as session:
                _check_event(session, summary)
        finally:
            engine.dispose()
