"""Overrides from the portal and the API: store them now, honour them next step.

The web process stores a :class:`PendingOverride` and returns at once; the
process that runs the event takes every pending row at its next step of at
most 60 seconds, releases the site's devices and records the ``Override``.
This keeps the Code of Conduct promise that a customer can stop an event at
any time without the web waiting on the dispatch loop.

References
----------
US DOE, "DER Aggregator Code of Conduct", November 2023: customers can
override or opt out of an event at any time.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from coflex.adapters.store.database import transaction
from coflex.adapters.store.models import Event, Override, Participation
from coflex.adapters.store.models_web import PendingOverride
from coflex.errors import RuleViolation
from coflex.services.accounts import NotFound
from coflex.services.dispatch import OverrideRequest

logger = logging.getLogger(__name__)

OVERRIDABLE_STATUSES = ("running",)


@dataclass(frozen=True)
class PacedClock:
    """Maps the wall clock to event time for an event run at ``speed`` × real time.

    With ``speed`` 1 the event runs in real time and event time is wall time
    shifted by ``event_start - wall_start``. A demo may run faster (60 runs a
    minute of the event per second) and still take overrides from the web.
    """

    event_start: datetime
    wall_start: datetime
    speed: float

    def event_time(self, wall: datetime) -> datetime:
        """Return the event time [UTC] that the wall time ``wall`` stands for."""
        seconds = (wall - self.wall_start).total_seconds() * self.speed
        return self.event_start + timedelta(seconds=seconds)

    def wall_time(self, event_at: datetime) -> datetime:
        """Return the wall time [UTC] at which event time ``event_at`` is reached."""
        seconds = (event_at - self.event_start).total_seconds() / self.speed
        return self.wall_start + timedelta(seconds=seconds)

    def wait_until(self, event_at: datetime) -> None:
        """Sleep until the wall clock reaches event time ``event_at``."""
        seconds = (event_at - self.event_start).total_seconds() / self.speed
        due = self.wall_start + timedelta(seconds=seconds)
        remaining = (due - datetime.now(UTC)).total_seconds()
        if remaining > 0:
            time.sleep(remaining)


class DatabaseOverrideInbox:
    """The runner's view of the ``pending_overrides`` table for one event.

    Parameters
    ----------
    event_id
        The event being run.
    site_positions
        Site id to the site's position in the event's fleet index.
    clock
        Maps the stored wall-clock request times to event time. Without a
        clock (an unpaced demo) a request counts as made at the start of the
        step that takes it.
    """

    def __init__(
        self,
        event_id: int,
        site_positions: dict[int, int],
        clock: PacedClock | None = None,
    ) -> None:
        self.event_id = event_id
        self.site_positions = site_positions
        self.clock = clock
        self.has_more = False

    def take_due(
        self,
        session: Session,
        step_start: datetime,
        step_end: datetime,
        already_released: Collection[int],
        limit: int | None = None,
    ) -> list[OverrideRequest]:
        """Return the overrides requested by ``step_end`` and mark them honoured.

        The marks are written in the runner's transaction, so a request is
        marked honoured exactly when its ``Override`` record is stored. At
        most ``limit`` requests are taken, and ``has_more`` is True when the
        limit cut the batch short.
        """
        query = (
            select(PendingOverride)
            .where(
                PendingOverride.event_id == self.event_id,
                PendingOverride.status == "pending",
            )
            .order_by(PendingOverride.id)
        )
        if self.clock is not None:
            query = query.where(
                PendingOverride.requested_at <= self.clock.wall_time(step_end)
            )
        rows = session.scalars(query.limit(limit)).all()
        taken = 0
        due: list[OverrideRequest] = []
        seen = set(already_released)
        for row in rows:
            requested = self._event_time(row.requested_at, step_start)
            if requested > step_end:
                continue
            taken += 1
            row.honoured_at = step_end
            position = self.site_positions.get(row.site_id)
            if position is None or position in seen:
                row.status = "duplicate" if position is not None else "not_planned"
                continue
            row.status = "honoured"
            seen.add(position)
            due.append(OverrideRequest(position, requested, row.channel))
        # Every further batch takes at least one row, so the runner's loop ends.
        self.has_more = limit is not None and len(rows) == limit and taken > 0
        return due

    def _event_time(self, wall: datetime, step_start: datetime) -> datetime:
        if self.clock is None:
            return step_start
        return max(self.clock.event_time(wall), self.clock.event_start)


@dataclass(frozen=True)
class OverrideStatus:
    """What the customer sees after pressing override."""

    request_id: int
    event_id: int
    site_id: int
    status: str  # pending, honoured, duplicate, not_planned
    requested_at: datetime
    honoured_at: datetime | None


def _status(row: PendingOverride) -> OverrideStatus:
    return OverrideStatus(
        row.id, row.event_id, row.site_id, row.status, row.requested_at, row.honoured_at
    )


def request_override(
    factory: sessionmaker[Session],
    event_id: int,
    site_id: int,
    *,
    account_id: int | None,
    channel: str,
    now: datetime,
) -> OverrideStatus:
    """Store a customer's override for a running event; repeat presses are kept once.

    Raises
    ------
    NotFound
        If the site takes no part in the event.
    RuleViolation
        If the event is not running, or the site's override was already
        honoured.
    """
    with transaction(factory) as session:
        event = session.get(Event, event_id)
        takes_part = session.scalar(
            select(Participation.id).where(
                Participation.event_id == event_id, Participation.site_id == site_id
            )
        )
        if event is None or takes_part is None:
            raise NotFound(
                f"site {site_id} takes no part in event {event_id}: "
                "check both ids on the events page",
                value=event_id,
                field="event_id",
            )
        if event.status not in OVERRIDABLE_STATUSES:
            raise RuleViolation(
                f"event {event_id} is {event.status}, not running: an override "
                "applies only while the event runs",
                value=event.status,
                field="event_id",
            )
        existing = _open_request(session, event_id, site_id)
        if existing is not None:
            return _status(existing)
        row = PendingOverride(
            event_id=event_id,
            site_id=site_id,
            account_id=account_id,
            channel=channel,
            requested_at=now,
            status="pending",
        )
        session.add(row)
        session.flush()
        logger.info("override %s stored for event %s", row.id, event_id)
        return _status(row)


def _open_request(
    session: Session, event_id: int, site_id: int
) -> PendingOverride | None:
    """Return the site's pending or honoured request, if any."""
    row = session.scalar(
        select(PendingOverride)
        .where(
            PendingOverride.event_id == event_id,
            PendingOverride.site_id == site_id,
            PendingOverride.status.in_(("pending", "honoured")),
        )
        .order_by(PendingOverride.id)
        .limit(1)
    )
    if row is not None:
        return row
    honoured = session.scalar(
        select(Override.id).where(
            Override.event_id == event_id, Override.site_id == site_id
        )
    )
    if honoured is not None:
        raise RuleViolation(
            f"site {site_id} already overrode event {event_id}: its devices "
            "are released for the rest of the event",
            value=site_id,
            field="site_id",
        )
    return None


def override_status(
    factory: sessionmaker[Session], request_id: int
) -> OverrideStatus | None:
    """Return the stored state of an override request, or None."""
    with factory() as session:
        row = session.get(PendingOverride, request_id)
        return _status(row) if row is not None else None
