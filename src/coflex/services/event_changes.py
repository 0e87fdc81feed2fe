"""Changing or cancelling an announced event, and telling every notified customer.

An operator may move an event's window, change its target or cancel it. Each
customer who got a notice of the event gets a change or cancellation notice
on the channel of their first notice, through the ``notices`` outbox, with
times in the local time of their site. A change re-checks each site's notice
deadline against the new start: a site whose change notice cannot arrive in
time is withdrawn from the event, with the reason recorded.

The process that runs the event reads these changes at each step through
:func:`apply_to_runner`: a cancelled event dispatches nothing, a running one
releases every device, and withdrawn sites are released and covered from
reserve.

References
----------
US DOE, "DER Aggregator Code of Conduct", November 2023, Communications and
Channels: customers are told in advance of events and of changes to them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from coflex.adapters.store.bulk import insert_rows
from coflex.adapters.store.database import transaction
from coflex.adapters.store.models import (
    Contract,
    Customer,
    Event,
    Notice,
    Participation,
    Program,
    Site,
)
from coflex.adapters.store.models_notices import EventChange, SiteWithdrawal
from coflex.domain.fleet import ExclusionReason
from coflex.domain.operations.notice import (
    Channel,
    NoticeText,
    earliest_delivery,
    notice_deadline,
)
from coflex.domain.operations.notice_changes import (
    EventWindow,
    cancellation_notice,
    change_notice,
    check_change,
)
from coflex.domain.programs import ProgramTerms
from coflex.errors import NotFoundError, RuleViolation
from coflex.services import audit
from coflex.services.events import revise_site_decisions

if TYPE_CHECKING:
    from coflex.services.dispatch import EventRunner

logger = logging.getLogger(__name__)

# Statuses of an event that is announced or being prepared but not started.
COMING_STATUSES = ("received", "eligibility_decided", "planned", "notified")
CANCELLABLE_STATUSES = (*COMING_STATUSES, "running")
CANCELLED = "cancelled"


class ReceiptSender(Protocol):
    """A batch notice sender that returns one delivery receipt per notice."""

    def send(self, channels: list[Channel], sent_at: datetime) -> list: ...


@dataclass(frozen=True)
class ChangeResult:
    """What a change or cancellation did."""

    event_id: int
    kind: str  # "change" or "cancel"
    notices: int
    withdrawn_sites: list[int]


@dataclass(frozen=True)
class NotifiedSite:
    """A customer notified of an event, and the site whose zone their notice uses."""

    customer_id: int
    name: str
    sites: list[tuple[int, str]]  # (site id, IANA zone) of each site in the event
    timezone: str
    channel: Channel


def window_of(event: Event) -> EventWindow:
    return EventWindow(event.start, event.end, event.target_kw)


def _window_json(window: EventWindow) -> dict[str, object]:
    return {
        "start": window.start.isoformat(),
        "end": window.end.isoformat(),
        "target_kw": window.target_kw,
    }


def load_event(session: Session, event_id: int) -> Event:
    event = session.get(Event, event_id, with_for_update=True)
    if event is None:
        raise NotFoundError(
            f"event {event_id} not found: list events with GET /api/v1/events "
            "or on the operator console",
            value=event_id,
            field="event_id",
        )
    return event


def notified_customers(session: Session, event_id: int) -> list[NotifiedSite]:
    """Return every customer sent a first notice of the event, with their sites."""
    first = dict(
        session.execute(
            select(Notice.customer_id, Notice.channel)
            .where(Notice.event_id == event_id, Notice.kind == "pre_event")
            .order_by(Notice.id)
        ).all()
    )
    if not first:
        return []
    taking_part = session.execute(
        select(Participation.site_id, Site.customer_id, Site.timezone)
        .join(Site, Site.id == Participation.site_id)
        .where(Participation.event_id == event_id)
        .distinct()
        .order_by(Participation.site_id)
    ).all()
    sites: dict[int, list[tuple[int, str]]] = {}
    for site_id, customer_id, zone in taking_part:
        sites.setdefault(customer_id, []).append((site_id, zone))
    names = dict(
        session.execute(
            select(Customer.id, Customer.name).where(Customer.id.in_(list(first)))
        ).all()
    )
    return [
        NotifiedSite(
            customer_id,
            names[customer_id],
            sites.get(customer_id, []),
            sites[customer_id][0][1] if customer_id in sites else "UTC",
            Channel(channel),
        )
        for customer_id, channel in sorted(first.items())
    ]


def _send(
    session: Session,
    event_id: int,
    kind: str,
    recipients: list[NotifiedSite],
    texts: list[NoticeText],
    now: datetime,
    channels: ReceiptSender | None,
) -> list[dict]:
    """Store one notice per recipient in the outbox, sent when channels are given.

    Without channels the notice stays queued until the process that runs the
    event delivers it, and its expected delivery time is the channel's usual
    latency.
    """
    rows = []
    receipts = channels.send([r.channel for r in recipients], now) if channels else None
    for i, (recipient, text) in enumerate(zip(recipients, texts, strict=True)):
        row = {
            "event_id": event_id,
            "customer_id": recipient.customer_id,
            "kind": kind,
            "channel": recipient.channel.value,
            "body": text.body,
            "created_at": now,
            "sent_at": None,
            "delivered_at": None,
            "status": "queued",
        }
        if receipts is not None:
            row["sent_at"] = receipts[i].sent_at
            row["delivered_at"] = receipts[i].delivered_at
            row["status"] = "delivered" if receipts[i].delivered_at else "failed"
        rows.append(row)
    insert_rows(session, Notice, rows)
    audit.append(session, audit.notice_records(rows))
    return rows


def terms_by_customer(
    session: Session, program_id: int, customer_ids: list[int]
) -> dict[int, ProgramTerms]:
    """Return each customer's terms: their newest contract's in the program.

    A customer without a contract in the program is held to the program's terms.
    """
    program = ProgramTerms.from_json(
        session.scalar(select(Program.terms).where(Program.id == program_id))
    )
    newest: dict[int, dict] = {}
    rows = session.execute(
        select(Contract.customer_id, Contract.terms)
        .where(Contract.program_id == program_id)
        .order_by(Contract.id)
    ).all()
    for customer_id, terms in rows:
        newest[customer_id] = terms
    return {
        c: ProgramTerms.from_json(newest[c]) if c in newest else program
        for c in customer_ids
    }


def withdraw_sites(
    session: Session,
    event_id: int,
    sites: list[tuple[int, int]],
    reason: ExclusionReason,
    detail: str,
    *,
    channel: str,
    account_id: int | None,
    at: datetime,
) -> None:
    """Withdraw ``(site_id, customer_id)`` pairs from an event, with the reason.

    Each site gets a pending withdrawal for the runner, its final eligibility
    decision and an audit record, in the caller's transaction.
    """
    if not sites:
        return
    session.add_all(
        SiteWithdrawal(
            event_id=event_id,
            site_id=site_id,
            customer_id=customer_id,
            reason=reason.value,
            detail=detail[:300],
            channel=channel,
            account_id=account_id,
            requested_at=at,
        )
        for site_id, customer_id in sites
    )
    decisions = [
        {
            "event_id": event_id,
            "site_id": site_id,
            "device_id": None,
            "eligible": False,
            "reason": reason.value,
            "detail": detail[:300],
            "decided_at": at,
        }
        for site_id, _ in sites
    ]
    revise_site_decisions(session, decisions)
    audit.append(session, audit.eligibility_records(decisions))


def _late_sites(
    session: Session,
    event: Event,
    recipients: list[NotifiedSite],
    rows: list[dict],
    after: EventWindow,
) -> list[tuple[int, int, str]]:
    """Return ``(site, customer, detail)`` for sites told of a change too late."""
    terms = terms_by_customer(
        session, event.program_id, [r.customer_id for r in recipients]
    )
    late = []
    for recipient, row in zip(recipients, rows, strict=True):
        own = terms[recipient.customer_id]
        delivered = row["delivered_at"]
        if row["status"] == "queued":
            delivered = earliest_delivery(row["created_at"], recipient.channel)
        for site_id, zone in recipient.sites:
            deadline = notice_deadline(
                own.event_class, after.start, zone, own.min_notice_s
            )
            if deadline is None or (delivered is not None and delivered <= deadline):
                continue
            late.append(
                (
                    site_id,
                    recipient.customer_id,
                    f"change notice cannot be delivered by {deadline.isoformat()}, "
                    f"the notice deadline for the new start {after.start.isoformat()}",
                )
            )
    return late


def _already_withdrawn(session: Session, event_id: int) -> set[int]:
    return set(
        session.scalars(
            select(SiteWithdrawal.site_id).where(SiteWithdrawal.event_id == event_id)
        ).all()
    )


def change_event(
    factory: sessionmaker[Session],
    event_id: int,
    *,
    now: datetime,
    actor: str,
    reason: str,
    start: datetime | None = None,
    end: datetime | None = None,
    target_kw: float | None = None,
    channels: ReceiptSender | None = None,
) -> ChangeResult:
    """Change a coming event's window or target and notify every notified customer.

    Parameters
    ----------
    start, end
        The new window [UTC]; an omitted one stays as it is.
    target_kw
        The new load reduction target [kW].
    channels
        Sends the change notices now and returns their receipts. Without it
        the notices are queued, and the deadline check uses each channel's
        expected latency.

    Raises
    ------
    NotFoundError
        If the event does not exist.
    RuleViolation
        If the event has started, ended or been cancelled.
    RequestError
        If the new window or target is invalid.
    """
    with transaction(factory) as session:
        event = load_event(session, event_id)
        if event.status not in COMING_STATUSES:
            raise RuleViolation(
                f"event {event_id} is {event.status}: only a coming event can be "
                "changed, and a running one can only be cancelled",
                value=event.status,
                field="event_id",
            )
        before = window_of(event)
        after = EventWindow(
            start or before.start, end or before.end, target_kw or before.target_kw
        )
        terms = ProgramTerms.from_json(
            session.scalar(select(Program.terms).where(Program.id == event.program_id))
        )
        check_change(before, after, now, terms.max_event_s)
        recipients = notified_customers(session, event_id)
        texts = [change_notice(r.name, before, after, r.timezone) for r in recipients]
        rows = _send(session, event_id, "change", recipients, texts, now, channels)
        skip = _already_withdrawn(session, event_id)
        late = [
            item
            for item in _late_sites(session, event, recipients, rows, after)
            if item[0] not in skip
        ]
        for site_id, customer_id, detail in late:
            withdraw_sites(
                session,
                event_id,
                [(site_id, customer_id)],
                ExclusionReason.CHANGE_NOTICE_LATE,
                detail,
                channel="coflex",
                account_id=None,
                at=now,
            )
        _record_change(session, event, "change", before, after, now, actor, reason)
        event.start, event.end = after.start, after.end
        event.target_kw = after.target_kw
    logger.info(
        "event %s changed; %d notices, %d sites withdrawn",
        event_id,
        len(rows),
        len(late),
    )
    return ChangeResult(event_id, "change", len(rows), [site for site, _, _ in late])


def _record_change(
    session: Session,
    event: Event,
    kind: str,
    before: EventWindow,
    after: EventWindow | None,
    now: datetime,
    actor: str,
    reason: str,
) -> None:
    session.add(
        EventChange(
            event_id=event.id,
            kind=kind,
            changed_at=now,
            actor=actor[:64],
            reason=reason[:300],
            status_before=event.status,
            window_before=_window_json(before),
            window_after=_window_json(after) if after else None,
        )
    )
    audit.append(
        session,
        [
            audit.AuditRecord(
                at=now,
                action=f"event_{kind}",
                subject=f"event:{event.id}",
                details={
                    "status_before": event.status,
                    "before": _window_json(before),
                    "after": _window_json(after) if after else None,
                },
                actor=actor[:64],
                event_id=event.id,
            )
        ],
    )


def cancel_event(
    factory: sessionmaker[Session],
    event_id: int,
    *,
    now: datetime,
    actor: str,
    reason: str,
    channels: ReceiptSender | None = None,
) -> ChangeResult:
    """Cancel a coming or running event and notify every notified customer.

    A running event releases every device at the runner's next step of at
    most 60 seconds; the release is stored as a restore command with the
    reason ``event_cancelled``.

    Raises
    ------
    NotFoundError
        If the event does not exist.
    RuleViolation
        If the event has already ended or been cancelled.
    """
    with transaction(factory) as session:
        event = load_event(session, event_id)
        if event.status not in CANCELLABLE_STATUSES:
            raise RuleViolation(
                f"event {event_id} is {event.status}: only a coming or running "
                "event can be cancelled",
                value=event.status,
                field="event_id",
            )
        running = event.status == "running"
        window = window_of(event)
        recipients = notified_customers(session, event_id)
        texts = [
            cancellation_notice(r.name, window, r.timezone, running=running)
            for r in recipients
        ]
        rows = _send(
            session, event_id, "cancellation", recipients, texts, now, channels
        )
        _record_change(session, event, "cancel", window, None, now, actor, reason)
        event.status = CANCELLED
    logger.info("event %s cancelled; %d notices", event_id, len(rows))
    return ChangeResult(event_id, "cancel", len(rows), [])


# -- the runner's side ------------------------------------------------------------


def refresh_window(runner: EventRunner, session: Session) -> None:
    """Give the runner the stored window and target of a changed event.

    Only an event with a stored change is refreshed: a runner may run its
    request on another calendar than the event row's, as the grid demo's
    simulated fleet does.

    NOTE: the device forecast and the plan stay those made for the first
    window; a large move would want a new plan from the forecaster.
    """
    changed = session.scalar(
        select(EventChange.id).where(
            EventChange.event_id == runner.p.event_id, EventChange.kind == "change"
        )
    )
    if changed is None:
        return
    event = session.get(Event, runner.p.event_id)
    assert event is not None
    request = runner.p.request
    if (event.start, event.end, event.target_kw) != (
        request.start,
        request.end,
        request.target_kw,
    ):
        runner.p.request = replace(
            request, start=event.start, end=event.end, target_kw=event.target_kw
        )


def is_cancelled(session: Session, event_id: int) -> bool:
    return session.scalar(select(Event.status).where(Event.id == event_id)) == CANCELLED


def apply_to_runner(runner: EventRunner, session: Session, at: datetime) -> bool:
    """Release the sites withdrawn since the last step; return True if cancelled.

    Each pending withdrawal is marked applied in the runner's transaction, so
    it is applied exactly once.
    """
    if is_cancelled(session, runner.p.event_id):
        return True
    pending = session.scalars(
        select(SiteWithdrawal)
        .where(
            SiteWithdrawal.event_id == runner.p.event_id,
            SiteWithdrawal.applied_at.is_(None),
        )
        .order_by(SiteWithdrawal.id)
    ).all()
    if not pending:
        return False
    index = runner.p.index
    positions = {int(site): pos for pos, site in enumerate(index.site_id.tolist())}
    sites = index.device_site[runner.p.candidate_device_pos]
    for row in pending:
        row.applied_at = at
        pos = positions.get(row.site_id)
        if pos is None:
            continue
        ks = np.flatnonzero((sites == pos) & ~runner.released)
        runner.release(session, ks, row.reason, at)
        runner.outcome.withdrawn_sites[row.reason] += 1
    return False
