"""Flexibility requests from an upstream OpenADR 2.0b VTN: decide, plan, respond.

Each event from the utility becomes a :class:`FlexibilityRequest`, validated
against the program terms and planned on the enrolled fleet. coflex opts in
when the plan reaches at least one eligible site and opts out when the
request is invalid or no site is eligible; customers are notified only after
an opt-in. Every event is stored with the notice the VTN actually gave and
the response sent, and a repeated message gets the stored response back.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from coflex.adapters.grid.openadr2 import OPT_IN, OPT_OUT, VtnEvent
from coflex.adapters.notices.simulated import SimulatedNoticeChannels
from coflex.adapters.store.database import transaction
from coflex.adapters.store.models import Event, EventTrace
from coflex.adapters.store.models_openadr import OpenAdr2Event, ProtocolRejection
from coflex.domain.operations.requests import FlexibilityRequest, validate_request
from coflex.domain.programs import ProgramTerms
from coflex.errors import CoflexError, RequestError
from coflex.services import events
from coflex.services.ports import Forecaster

logger = logging.getLogger(__name__)

# OpenADR 2.0b response code for a message whose content is invalid.
INVALID_DATA = 454


@dataclass(frozen=True)
class SignalScale:
    """How an OpenADR signal becomes a load reduction [kW].

    ``simple_level_kw`` gives the reduction for SIMPLE levels 1, 2 and 3, as
    the utility program contract states it. A LOAD_DISPATCH ``delta`` signal
    carries the change in kW itself, negative for a reduction.
    """

    simple_level_kw: tuple[float, float, float]


def target_kw(event: VtnEvent, scale: SignalScale) -> float:
    """Return the load reduction [kW] that an event's signal requests.

    Raises
    ------
    RequestError
        If the signal is not SIMPLE/level or LOAD_DISPATCH/delta, the level is
        not 1 to 3, or the delta is not a reduction.
    """
    value = event.signal_value
    kind = (event.signal_name, event.signal_type)
    if kind == ("SIMPLE", "level") and value in (1.0, 2.0, 3.0):
        return scale.simple_level_kw[int(value) - 1]
    if kind == ("LOAD_DISPATCH", "delta") and value is not None and value < 0:
        return -value
    raise RequestError(
        f"signal {event.signal_name}/{event.signal_type} with value {value!r} is "
        "not supported: send SIMPLE/level 1 to 3 or LOAD_DISPATCH/delta below 0 kW",
        value=value,
        field="event_signals",
    )


class GridRequestService:
    """Turns upstream OpenADR events into planned coflex events.

    Parameters
    ----------
    factory
        Sessions on the coflex store.
    program_id, terms
        The program that serves this VTN and its terms.
    forecaster
        Weather and device flexibility over the event window.
    channels
        Notice channels for customers of an accepted event.
    scale
        How signals map to a load reduction [kW].
    to_fleet_time
        Maps a time read from the wire onto the fleet's calendar before
        planning. The identity for a real fleet; a simulated fleet that lives
        on a weather file's calendar shifts it to its event day. Stored
        OpenADR records keep the wire times.
    """

    def __init__(
        self,
        factory: sessionmaker[Session],
        program_id: int,
        terms: ProgramTerms,
        forecaster: Forecaster,
        channels: SimulatedNoticeChannels,
        scale: SignalScale,
        *,
        method: str = "highs",
        to_fleet_time: Callable[[datetime], datetime] | None = None,
    ) -> None:
        self.factory = factory
        self.to_fleet_time = to_fleet_time or (lambda at: at)
        self.program_id = program_id
        self.terms = terms
        self.forecaster = forecaster
        self.channels = channels
        self.scale = scale
        self.method = method
        # Events planned and notified, by coflex event id, for the runner.
        self.prepared: dict[int, events.PreparedEvent] = {}
        self.on_prepared: Callable[[events.PreparedEvent], None] | None = None

    def decide(self, event: VtnEvent, ven_id: str) -> str:
        """Plan an event, store the outcome and return ``"optIn"`` or ``"optOut"``.

        A message already stored (same VTN, event ID and modification number)
        returns the stored response and plans nothing.
        """
        with self.factory() as session:
            rows = self._history(session, event)
        for row in rows:
            if row.modification_number == event.modification_number:
                logger.info("OpenADR event %s repeated", event.vtn_event_id)
                return row.opt
        if rows:
            return self._modify(event, ven_id, rows[-1])
        opt, reason, event_id, target = self._plan(event)
        return self._record(event, ven_id, opt, reason, event_id, target)

    def _history(self, session: Session, event: VtnEvent) -> list[OpenAdr2Event]:
        return list(
            session.scalars(
                select(OpenAdr2Event)
                .where(
                    OpenAdr2Event.vtn_id == event.vtn_id,
                    OpenAdr2Event.vtn_event_id == event.vtn_event_id,
                )
                .order_by(OpenAdr2Event.modification_number)
            )
        )

    def _plan(self, event: VtnEvent) -> tuple[str, str, int | None, float | None]:
        try:
            target = target_kw(event, self.scale)
            request = FlexibilityRequest(
                requester=f"OpenADR VTN {event.vtn_id}",
                received_at=self.to_fleet_time(event.received_at),
                start=self.to_fleet_time(event.start),
                end=self.to_fleet_time(event.end),
                target_kw=target,
                event_class=self.terms.event_class,
            )
            validate_request(request, self.terms)
            prepared = events.plan_request(
                self.factory,
                self.program_id,
                self.terms,
                request,
                self.forecaster,
                method=self.method,
            )
        except CoflexError as error:
            logger.warning(
                "OpenADR event %s opted out: %s", event.vtn_event_id, error.message
            )
            return OPT_OUT, error.message, None, None
        return self._respond(prepared)

    def _respond(
        self, prepared: events.PreparedEvent
    ) -> tuple[str, str, int | None, float | None]:
        planned_kw = prepared.plan.planned_kw
        target = prepared.request.target_kw
        if not prepared.site_eligible.any() or planned_kw <= 0:
            excluded = ", ".join(
                f"{reason}: {count}" for reason, count in prepared.exclusions.items()
            )
            with transaction(self.factory) as session:
                row = session.get(Event, prepared.event_id)
                assert row is not None
                row.status = "declined"
            reason = f"no site is eligible ({excluded or 'no enrolled site'})"
            return OPT_OUT, reason, prepared.event_id, target
        events.send_notices(self.factory, prepared.event_id, prepared, self.channels)
        self.prepared[prepared.event_id] = prepared
        if self.on_prepared is not None:
            self.on_prepared(prepared)
        devices = int((prepared.plan.fraction > 0).sum())
        reason = f"planned {planned_kw:.1f} kW of {target:.1f} kW on {devices} devices"
        return OPT_IN, reason, prepared.event_id, target

    def _modify(self, event: VtnEvent, ven_id: str, previous: OpenAdr2Event) -> str:
        """Record a modification; a cancellation cancels the coflex event."""
        if event.event_status == "cancelled" and previous.event_id is not None:
            with transaction(self.factory) as session:
                row = session.get(Event, previous.event_id)
                if row is not None and row.status not in ("finished", "declined"):
                    row.status = "cancelled"
            logger.info("OpenADR event %s cancelled by the VTN", event.vtn_event_id)
            reason = "cancelled by the VTN"
        else:
            # NOTE: a changed window or target is recorded but not re-planned;
            # the plan of the first version is kept.
            logger.warning(
                "OpenADR event %s modified; the first plan is kept",
                event.vtn_event_id,
            )
            reason = "modification recorded; the plan of the first version is kept"
        return self._record(
            event, ven_id, previous.opt, reason, previous.event_id, previous.target_kw
        )

    def _record(
        self,
        event: VtnEvent,
        ven_id: str,
        opt: str,
        reason: str,
        event_id: int | None,
        target: float | None,
    ) -> str:
        row = OpenAdr2Event(
            vtn_id=event.vtn_id,
            ven_id=ven_id,
            vtn_event_id=event.vtn_event_id,
            modification_number=event.modification_number,
            event_status=event.event_status,
            signal_name=event.signal_name,
            signal_type=event.signal_type,
            signal_value=event.signal_value,
            created_at=event.created_at,
            received_at=event.received_at,
            start=event.start,
            end=event.end,
            notice_given_s=event.notice_given_s,
            notice_received_s=event.notice_received_s,
            target_kw=target,
            opt=opt,
            reason=reason[:500],
            event_id=event_id,
        )
        try:
            with transaction(self.factory) as session:
                session.add(row)
        except IntegrityError:
            # The same message was stored meanwhile: keep the stored response.
            with self.factory() as session:
                return next(
                    r.opt
                    for r in self._history(session, event)
                    if r.modification_number == event.modification_number
                )
        logger.info(
            "OpenADR event %s: responded %s: %s", event.vtn_event_id, opt, reason
        )
        return opt

    def reject(
        self, vtn_id: str, vtn_event_id: str, error: RequestError, at: datetime
    ) -> None:
        """Record an event that could not be read; the VEN opts out of it."""
        record_rejection(
            self.factory,
            "2.0b",
            vtn_id,
            "invalid_event",
            INVALID_DATA,
            f"event {vtn_event_id}: {error.message}",
            at,
        )

    def read_load_kw(self) -> float | None:
        """Return the fleet's load [kW] at the program's latest event step."""
        with self.factory() as session:
            return session.scalar(
                select(EventTrace.fleet_power_kw)
                .join(Event, Event.id == EventTrace.event_id)
                .where(Event.program_id == self.program_id)
                .order_by(EventTrace.at.desc(), EventTrace.id.desc())
                .limit(1)
            )


def record_rejection(
    factory: sessionmaker[Session],
    protocol: str,
    peer: str | None,
    kind: str,
    status_code: int,
    detail: str,
    at: datetime | None = None,
) -> None:
    """Store a rejected protocol message with the status code returned for it."""
    with transaction(factory) as session:
        session.add(
            ProtocolRejection(
                protocol=protocol,
                peer=peer[:200] if peer else None,
                kind=kind,
                status_code=status_code,
                detail=detail[:500],
                received_at=at or datetime.now(UTC),
            )
        )
    logger.warning("OpenADR %s message rejected (%s): %s", protocol, kind, detail)
