"""Planning the events that grid operators opened through the API.

``POST /api/v1/flexibility-requests`` validates a request and opens its event
with status ``received``; the web server has no fleet to plan on. The
process that runs the fleet (the one holding its device gateway and
forecaster) takes those events here: it decides eligibility, plans, notifies
customers and returns the prepared event for
:class:`coflex.services.dispatch.EventRunner`. An event that reaches no
eligible site is declined, as an upstream OpenADR event is opted out of.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from coflex.adapters.notices.simulated import SimulatedNoticeChannels
from coflex.adapters.store.database import transaction
from coflex.adapters.store.models import Event
from coflex.adapters.store.models import FlexibilityRequest as RequestRow
from coflex.domain.operations.requests import FlexibilityRequest
from coflex.domain.programs import EventClass, ProgramTerms
from coflex.errors import NotFoundError, TransitionError
from coflex.services import events
from coflex.services.ports import Forecaster

logger = logging.getLogger(__name__)

RECEIVED = "received"


class RequestPlanner:
    """Plans the program's received events on the fleet of this process.

    Parameters
    ----------
    factory
        Sessions on the coflex store the web server writes to.
    program_id, terms
        The program whose events this process runs, and its terms.
    forecaster
        Weather and device flexibility over an event window.
    channels
        Notice channels for customers of a planned event.
    to_fleet_time
        Maps a stored time onto the fleet's calendar before planning; the
        identity for a real fleet. A simulated fleet that lives on a weather
        file's calendar shifts it to its event day, and the event row keeps
        the times the grid operator sent.
    """

    def __init__(
        self,
        factory: sessionmaker[Session],
        program_id: int,
        terms: ProgramTerms,
        forecaster: Forecaster,
        channels: SimulatedNoticeChannels,
        *,
        method: str = "highs",
        to_fleet_time: Callable[[datetime], datetime] | None = None,
    ) -> None:
        self.factory = factory
        self.program_id = program_id
        self.terms = terms
        self.forecaster = forecaster
        self.channels = channels
        self.method = method
        self.to_fleet_time = to_fleet_time or (lambda at: at)

    def waiting(self) -> list[int]:
        """Return the ids of the program's events still waiting for a plan."""
        with self.factory() as session:
            return list(
                session.scalars(
                    select(Event.id)
                    .where(
                        Event.program_id == self.program_id, Event.status == RECEIVED
                    )
                    .order_by(Event.start, Event.id)
                )
            )

    def _request(self, session: Session, event_id: int) -> FlexibilityRequest:
        event = session.get(Event, event_id)
        if event is None or event.program_id != self.program_id:
            raise NotFoundError(
                f"event {event_id} not found in program {self.program_id}: list "
                "the waiting events with RequestPlanner.waiting()",
                value=event_id,
                field="event_id",
            )
        if event.status != RECEIVED:
            raise TransitionError(
                f"event {event_id} is {event.status}: only a received event is "
                "planned",
                value=event.status,
                field="status",
            )
        row = session.get(RequestRow, event.request_id)
        assert row is not None
        return FlexibilityRequest(
            requester=row.requester,
            received_at=row.received_at,
            start=row.start,
            end=row.end,
            target_kw=row.target_kw,
            event_class=EventClass(row.event_class),
        )

    def plan(self, event_id: int) -> events.PreparedEvent | None:
        """Plan and notify a received event; return it, or None when declined.

        Raises
        ------
        NotFoundError
            If the event is not one of the program's.
        TransitionError
            If the event was planned, declined or cancelled already.
        """
        with self.factory() as session:
            stored = self._request(session, event_id)
        request = replace(
            stored,
            received_at=self.to_fleet_time(stored.received_at),
            start=self.to_fleet_time(stored.start),
            end=self.to_fleet_time(stored.end),
        )
        prepared = events.plan_event(
            self.factory,
            event_id,
            self.program_id,
            self.terms,
            request,
            self.forecaster,
            method=self.method,
        )
        if not prepared.site_eligible.any() or prepared.plan.planned_kw <= 0:
            with transaction(self.factory) as session:
                row = session.get(Event, event_id)
                assert row is not None
                row.status = "declined"
            logger.warning(
                "event %s declined: no site is eligible (%s)",
                event_id,
                dict(prepared.exclusions),
            )
            return None
        events.send_notices(self.factory, event_id, prepared, self.channels)
        logger.info(
            "event %s from %s planned %.1f kW of %.1f kW",
            event_id,
            stored.requester,
            prepared.plan.planned_kw,
            stored.target_kw,
        )
        return prepared
