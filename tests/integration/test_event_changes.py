"""Changed, cancelled and emergency events on a small fleet, checked from the records.

Communications and Channels (DOE DER Aggregator Code of Conduct, 2023):
customers are told of events and of changes to them in advance, and an event
nobody could be told of in time does not reach their home.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from event_fixtures import StagedEvent, UndeliveredFor, stage_event
from sqlalchemy import select

from coflex.adapters.notices.simulated import SimulatedNoticeChannels
from coflex.adapters.store.models import (
    DeviceCommand,
    EligibilityDecision,
    Event,
    Notice,
    Participation,
)
from coflex.adapters.store.models_governance import AuditEntry
from coflex.adapters.store.models_notices import EventChange, SiteWithdrawal
from coflex.domain.operations.notice import EMERGENCY_NOTICE_AFTER_S
from coflex.domain.programs import EventClass
from coflex.errors import NotFoundError, RequestError, RuleViolation
from coflex.services import demo, dispatch, event_changes


@pytest.fixture
def staged(database_url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    event = stage_event(database_url, tmp_path / "out")
    yield event
    event.engine.dispose()


def _commands(staged: StagedEvent, action: str) -> list[DeviceCommand]:
    with staged.factory() as session:
        return list(
            session.scalars(
                select(DeviceCommand).where(
                    DeviceCommand.event_id == staged.prepared.event_id,
                    DeviceCommand.action == action,
                )
            ).all()
        )


def _notices(staged: StagedEvent, kind: str) -> list[Notice]:
    with staged.factory() as session:
        return list(
            session.scalars(
                select(Notice)
                .where(Notice.event_id == staged.prepared.event_id, Notice.kind == kind)
                .order_by(Notice.customer_id)
            ).all()
        )


def test_cancel_before_start_dispatches_nothing(staged: StagedEvent) -> None:
    request = staged.prepared.request
    now = request.received_at + timedelta(minutes=20)
    result = event_changes.cancel_event(
        staged.factory,
        staged.prepared.event_id,
        now=now,
        actor="operator",
        reason="grid no longer short",
        channels=SimulatedNoticeChannels(np.random.default_rng(5)),
    )

    first = _notices(staged, "pre_event")
    cancelled = _notices(staged, "cancellation")
    assert result.notices == len(cancelled) == len({n.customer_id for n in first}) > 0
    assert {n.customer_id for n in cancelled} == {n.customer_id for n in first}
    for notice in cancelled:
        assert "is cancelled" in notice.body
        assert "EDT" in notice.body  # a summer event in New York
        assert notice.status == "delivered"

    outcome = staged.runner().run([])
    assert outcome.cancelled_at is not None
    assert outcome.dispatched_devices == set()
    assert _commands(staged, "curtail") == []
    with staged.factory() as session:
        event = session.get(Event, staged.prepared.event_id)
        change = session.scalar(select(EventChange))
        audited = session.scalar(
            select(AuditEntry).where(AuditEntry.action == "event_cancel")
        )
    assert event is not None and event.status == "cancelled"
    assert change is not None and change.kind == "cancel"
    assert change.reason == "grid no longer short"
    assert audited is not None


def test_cancel_twice_rejected(staged: StagedEvent) -> None:
    now = staged.prepared.request.received_at + timedelta(minutes=20)
    event_id = staged.prepared.event_id
    event_changes.cancel_event(
        staged.factory, event_id, now=now, actor="operator", reason="x"
    )
    with pytest.raises(RuleViolation, match="only a coming or running"):
        event_changes.cancel_event(
            staged.factory, event_id, now=now, actor="operator", reason="x"
        )
    queued = _notices(staged, "cancellation")
    assert queued and all(n.status == "queued" for n in queued)


def test_cancel_running_releases_every_device(staged: StagedEvent) -> None:
    runner = staged.runner()
    start = staged.prepared.request.start
    cancelled_at = start + timedelta(minutes=10)
    steps = {"count": 0}

    def cancel_after_ten_steps() -> None:
        steps["count"] += 1
        if steps["count"] == 10:
            event_changes.cancel_event(
                staged.factory,
                staged.prepared.event_id,
                now=cancelled_at,
                actor="operator",
                reason="grid no longer short",
            )

    runner.on_step = cancel_after_ten_steps
    outcome = runner.run([])

    released_at = cancelled_at + timedelta(seconds=dispatch.STEP_S)
    assert outcome.cancelled_at == released_at
    assert outcome.dispatched_devices
    assert not runner.under_control.any()
    curtailed = {c.device_id for c in _commands(staged, "curtail")}
    restores = _commands(staged, "restore")
    cancelled = {c.device_id for c in restores if c.reason == "event_cancelled"}
    assert cancelled
    last_action: dict[int, str] = {}
    with staged.factory() as session:
        for command in session.scalars(
            select(DeviceCommand)
            .where(DeviceCommand.event_id == staged.prepared.event_id)
            .order_by(DeviceCommand.issued_at, DeviceCommand.id)
        ):
            last_action[command.device_id] = command.action
            assert command.issued_at <= released_at
        dispatched = session.scalars(
            select(Participation).where(
                Participation.event_id == staged.prepared.event_id,
                Participation.dispatched_at.is_not(None),
            )
        ).all()
        event = session.get(Event, staged.prepared.event_id)
    assert {d: last_action[d] for d in curtailed} == dict.fromkeys(curtailed, "restore")
    assert dispatched
    assert all(p.released_at is not None for p in dispatched)
    assert event is not None and event.status == "cancelled"
    for notice in _notices(staged, "cancellation"):
        assert "back on your own settings now" in notice.body


def test_change_earlier_rechecks_deadline(staged: StagedEvent) -> None:
    """A start moved earlier withdraws every site whose change notice is late."""
    request = staged.prepared.request
    now = request.received_at + timedelta(minutes=5)
    lead = timedelta(seconds=demo.TERMS.min_notice_s)
    new_start = now + lead + timedelta(seconds=150)
    assert new_start < request.start
    result = event_changes.change_event(
        staged.factory,
        staged.prepared.event_id,
        now=now,
        actor="operator",
        reason="peak moved earlier",
        start=new_start,
        channels=SimulatedNoticeChannels(np.random.default_rng(11)),
    )

    deadline = new_start - lead
    changes = _notices(staged, "change")
    assert len(changes) == result.notices == len(_notices(staged, "pre_event"))
    late = {n.customer_id for n in changes if n.delivered_at > deadline}
    on_time = {n.customer_id for n in changes if n.delivered_at <= deadline}
    assert late and on_time
    with staged.factory() as session:
        withdrawn = session.scalars(
            select(SiteWithdrawal).where(
                SiteWithdrawal.event_id == staged.prepared.event_id
            )
        ).all()
        decisions = dict(
            session.execute(
                select(EligibilityDecision.site_id, EligibilityDecision.reason).where(
                    EligibilityDecision.event_id == staged.prepared.event_id,
                    EligibilityDecision.device_id.is_(None),
                )
            ).all()
        )
        event = session.get(Event, staged.prepared.event_id)
    assert {w.customer_id for w in withdrawn} == late
    assert sorted(w.site_id for w in withdrawn) == sorted(result.withdrawn_sites)
    for row in withdrawn:
        assert row.reason == "change_notice_not_delivered_in_time"
        assert decisions[row.site_id] == row.reason
    assert event is not None and event.start == new_start
    for notice in changes:
        assert "has changed" in notice.body
        assert "EDT" in notice.body

    runner = staged.runner()
    outcome = runner.run([])
    assert runner.p.request.start == new_start
    withdrawn_devices = set()
    with staged.factory() as session:
        for row in withdrawn:
            withdrawn_devices |= set(
                session.scalars(
                    select(Participation.device_id).where(
                        Participation.event_id == staged.prepared.event_id,
                        Participation.site_id == row.site_id,
                    )
                ).all()
            )
    curtailed = {c.device_id for c in _commands(staged, "curtail")}
    assert curtailed
    assert not curtailed & withdrawn_devices
    assert outcome.withdrawn_sites["change_notice_not_delivered_in_time"] == len(
        withdrawn
    )
    assert min(c.issued_at for c in _commands(staged, "curtail")) == new_start


def test_change_rejects_bad_window(staged: StagedEvent) -> None:
    request = staged.prepared.request
    now = request.received_at
    with pytest.raises(RequestError, match="not after the new start"):
        event_changes.change_event(
            staged.factory,
            staged.prepared.event_id,
            now=now,
            actor="operator",
            reason="x",
            end=request.start - timedelta(minutes=1),
        )
    with pytest.raises(RequestError, match="longer than the program's maximum"):
        event_changes.change_event(
            staged.factory,
            staged.prepared.event_id,
            now=now,
            actor="operator",
            reason="x",
            end=request.start + timedelta(hours=5),
        )
    assert _notices(staged, "change") == []


@pytest.fixture
def emergency(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    terms = replace(demo.TERMS, event_class=EventClass.EMERGENCY)
    monkeypatch.setattr(demo, "TERMS", terms)
    event = stage_event(
        database_url,
        tmp_path / "out",
        notice_lead_s=300,
        channels=UndeliveredFor({0, 1, 2}),
    )
    yield event
    event.engine.dispose()


def test_emergency_notice_enforced(emergency: StagedEvent) -> None:
    """An emergency site whose notice missed the hour after the start is released."""
    prepared = emergency.prepared
    assert prepared.request.event_class is EventClass.EMERGENCY
    failed = [n for n in _notices(emergency, "pre_event") if n.delivered_at is None]
    assert len(failed) == 3
    runner = emergency.runner()
    outcome = runner.run([])

    due = prepared.request.start + timedelta(seconds=EMERGENCY_NOTICE_AFTER_S)
    failed_customers = {n.customer_id for n in failed}
    with emergency.factory() as session:
        withdrawn = session.scalars(
            select(SiteWithdrawal).where(SiteWithdrawal.event_id == prepared.event_id)
        ).all()
        failed_devices = set(
            session.scalars(
                select(Participation.device_id).where(
                    Participation.event_id == prepared.event_id,
                    Participation.site_id.in_([w.site_id for w in withdrawn]),
                )
            ).all()
        )
    assert {w.customer_id for w in withdrawn} == failed_customers
    assert all(w.reason == "emergency_notice_not_delivered" for w in withdrawn)
    assert all(w.applied_at == due for w in withdrawn)
    assert outcome.withdrawn_sites["emergency_notice_not_delivered"] == len(withdrawn)
    late_curtails = [
        c
        for c in _commands(emergency, "curtail")
        if c.device_id in failed_devices and c.issued_at >= due
    ]
    assert late_curtails == []
    early = [
        c for c in _commands(emergency, "curtail") if c.device_id in failed_devices
    ]
    restored = {
        c.device_id
        for c in _commands(emergency, "restore")
        if c.reason == "emergency_notice_not_delivered"
    }
    assert early
    assert {c.device_id for c in early} <= restored
    # Sites whose notice arrived stay in the event to its end.
    assert outcome.dispatched_sites - {
        int(np.flatnonzero(prepared.index.site_id == w.site_id)[0]) for w in withdrawn
    }


def test_change_and_cancel_across_fall_back(staged: StagedEvent) -> None:
    """Notices give each end of the new window in its own offset (EDT, then EST)."""
    now = staged.prepared.request.received_at
    start = datetime(2026, 11, 1, 5, 30, tzinfo=UTC)  # 01:30 EDT
    end = datetime(2026, 11, 1, 6, 30, tzinfo=UTC)  # 01:30 EST, an hour later
    event_changes.change_event(
        staged.factory,
        staged.prepared.event_id,
        now=now,
        actor="operator",
        reason="moved to the autumn",
        start=start,
        end=end,
    )
    event_changes.cancel_event(
        staged.factory,
        staged.prepared.event_id,
        now=now + timedelta(minutes=1),
        actor="operator",
        reason="not needed",
    )
    changes = _notices(staged, "change")
    cancellations = _notices(staged, "cancellation")
    assert changes and len(changes) == len(cancellations)
    for notice in changes:
        assert (
            "It now runs from Sunday 01 November 2026, 01:30 EDT to Sunday 01 "
            "November 2026, 01:30 EST." in notice.body
        )
        assert notice.status == "queued"
    for notice in cancellations:
        assert "01:30 EDT to Sunday 01 November 2026, 01:30 EST is cancelled" in (
            notice.body
        )
    with staged.factory() as session:
        changes_stored = session.scalars(
            select(EventChange).order_by(EventChange.id)
        ).all()
    assert [c.kind for c in changes_stored] == ["change", "cancel"]
    assert changes_stored[0].window_after["start"] == start.isoformat()
    assert changes_stored[1].window_before["end"] == end.isoformat()


def test_leave_program_by_contract_state(staged: StagedEvent) -> None:
    """Cooling-off cancels at no cost; a lapsed cooling-off ends by termination."""
    from coflex.adapters.store.models import Contract
    from coflex.services import opt_outs

    now = staged.prepared.request.received_at
    index = staged.prepared.index
    in_period, lapsed = int(index.customer_id[0]), int(index.customer_id[1])
    with staged.factory() as session:
        for customer_id, ends in (
            (in_period, now + timedelta(days=3)),
            (lapsed, now - timedelta(days=3)),
        ):
            contract = session.scalar(
                select(Contract).where(Contract.customer_id == customer_id)
            )
            assert contract is not None
            contract.status = "cooling_off"
            contract.cooling_off_ends_at = ends
        session.commit()

    cancelled = opt_outs.leave_program(
        staged.factory,
        in_period,
        staged.program_id,
        account_id=None,
        channel="cli",
        now=now,
    )
    terminated = opt_outs.leave_program(
        staged.factory,
        lapsed,
        staged.program_id,
        account_id=None,
        channel="cli",
        now=now,
    )
    assert cancelled.status == "cancelled"
    assert cancelled.final_statement_id is None
    assert terminated.status == "terminated"
    assert terminated.final_statement_id is not None
    with pytest.raises(NotFoundError, match="no open contract"):
        opt_outs.leave_program(
            staged.factory,
            lapsed,
            staged.program_id,
            account_id=None,
            channel="cli",
            now=now,
        )


def test_reminders_follow_changes(staged: StagedEvent) -> None:
    """Reminders give the changed window, skip withdrawn sites, stop on cancel."""
    from coflex.services import events, opt_outs

    prepared = staged.prepared
    now = prepared.request.received_at
    planned = prepared.candidate_device_pos[prepared.plan.fraction > 0]
    site_pos = int(prepared.index.device_site[planned[0]])
    site_id = int(prepared.index.site_id[site_pos])
    customer_id = int(prepared.index.customer_id[site_pos])
    opt_outs.opt_out(
        staged.factory,
        prepared.event_id,
        site_id,
        customer_id=customer_id,
        account_id=None,
        channel="cli",
        now=now,
    )
    new_start = prepared.request.start + timedelta(minutes=30)
    event_changes.change_event(
        staged.factory,
        prepared.event_id,
        now=now,
        actor="operator",
        reason="later peak",
        start=new_start,
    )
    channels = SimulatedNoticeChannels(np.random.default_rng(2))
    sent = events.send_reminders(staged.factory, prepared, channels)

    reminders = _notices(staged, "reminder")
    assert sent == len(reminders) > 0
    assert customer_id not in {n.customer_id for n in reminders}
    for notice in reminders:
        assert notice.created_at == new_start - timedelta(
            seconds=events.REMINDER_LEAD_S
        )
        assert "15:30 EDT" in notice.body
    event_changes.cancel_event(
        staged.factory, prepared.event_id, now=now, actor="operator", reason="x"
    )
    assert events.send_reminders(staged.factory, prepared, channels) == 0
