"""Receiving a flexibility request and preparing its event: eligibility, plan, notice.

Each step runs in one transaction, so a step is stored whole or not at all.
The dispatch itself is in :mod:`coflex.services.dispatch`.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import numpy as np
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, sessionmaker

from coflex.adapters.notices.ledger import IdempotentChannels, NoticeSender
from coflex.adapters.notices.simulated import DeliveryReceipt
from coflex.adapters.store.bulk import insert_rows
from coflex.adapters.store.database import transaction
from coflex.adapters.store.models import (
    EligibilityDecision,
    Event,
    Notice,
    Participation,
)
from coflex.adapters.store.models import FlexibilityRequest as RequestRow
from coflex.adapters.store.models_notices import SiteWithdrawal
from coflex.domain.fleet import DeviceKind, ExclusionReason, HvacMode
from coflex.domain.operations import planner
from coflex.domain.operations.eligibility import (
    SiteStanding,
    decide_device,
    decide_site,
)
from coflex.domain.operations.notice import (
    earliest_delivery,
    notice_deadline,
    pre_event_notice,
    reminder_notice,
)
from coflex.domain.operations.requests import FlexibilityRequest, validate_request
from coflex.domain.operations.weather_alerts import (
    WeatherAlert,
    alerts_for_site,
    unlocated,
)
from coflex.domain.programs import ProgramTerms
from coflex.errors import RequestError
from coflex.services import audit, notice_outbox, oversight
from coflex.services.fleet_index import FleetIndex, load_fleet_index
from coflex.services.ports import DeviceForecast, Forecaster

logger = logging.getLogger(__name__)

OVERRIDE_HINT = "press Override in the app or the portal, or change your thermostat"


@dataclass
class PreparedEvent:
    """Everything the dispatch loop needs, decided before the event starts."""

    event_id: int
    request: FlexibilityRequest
    terms: ProgramTerms
    index: FleetIndex
    site_eligible: np.ndarray
    exclusions: Counter[str]
    candidates: planner.Candidates
    candidate_device_pos: np.ndarray  # device position of each candidate
    forecast: DeviceForecast
    plan: planner.Plan
    notice_delivered_at: dict[int, datetime] = field(default_factory=dict)
    notice_on_time: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))


# Events in these states no longer hold their window.
CLOSED_STATUSES = ("cancelled", "declined")


def _reject_overlap(
    session: Session, program_id: int, request: FlexibilityRequest
) -> None:
    """Raise RequestError if the window overlaps another open event of the program.

    A device takes one command at a time, so one program runs one event at a
    time. A grid operator that wants more changes the open event instead.
    """
    other = session.scalars(
        select(Event)
        .where(
            Event.program_id == program_id,
            Event.start < request.end,
            Event.end > request.start,
            Event.status.not_in(CLOSED_STATUSES),
        )
        .order_by(Event.start)
        .limit(1)
    ).first()
    if other is not None:
        raise RequestError(
            f"the window {request.start.isoformat()} to {request.end.isoformat()} "
            f"overlaps event {other.id} ({other.start.isoformat()} to "
            f"{other.end.isoformat()}, {other.status}): choose a window outside it, "
            "or change or cancel that event",
            value=request.start.isoformat(),
            field="start",
        )


def receive_request(
    factory: sessionmaker[Session],
    program_id: int,
    terms: ProgramTerms,
    request: FlexibilityRequest,
) -> int:
    """Validate and store a request and open its event; return the event id."""
    validate_request(request, terms)
    with transaction(factory) as session:
        oversight.require_registration(session, program_id, request.received_at)
        _reject_overlap(session, program_id, request)
        row = RequestRow(
            requester=request.requester,
            received_at=request.received_at,
            start=request.start,
            end=request.end,
            target_kw=request.target_kw,
            event_class=request.event_class.value,
        )
        session.add(row)
        session.flush()
        event = Event(
            request_id=row.id,
            program_id=program_id,
            status="received",
            start=request.start,
            end=request.end,
            target_kw=request.target_kw,
            created_at=request.received_at,
        )
        session.add(event)
        session.flush()
        audit.append(
            session,
            audit.request_records(event.id, request.received_at, request.target_kw),
        )
        logger.info("flexibility request %s opened event %s", row.id, event.id)
        return event.id


def _standings(
    index: FleetIndex,
    forecaster: Forecaster,
    request: FlexibilityRequest,
    weather_alerts: Sequence[WeatherAlert],
) -> list[SiteStanding]:
    weather = forecaster.weather(request.start, request.end)
    for alert in unlocated(weather_alerts):
        logger.warning(
            "NWS %s %s names forecast zones but no polygon: it locates no site",
            alert.event,
            alert.identifier,
        )
    standings = []
    for i in range(index.n_sites):
        standings.append(
            SiteStanding(
                site_id=int(index.site_id[i]),
                contract_status=index.contract_status[i],
                cooling_off_ends_at=index.cooling_off_ends_at[i],
                consent_valid=bool(index.consent_valid[i]),
                events_this_season=int(index.events_this_season[i]),
                hours_this_season=float(index.hours_this_season[i]),
                terms=index.terms[i],
                earliest_notice_delivery_at=earliest_delivery(
                    request.received_at, index.channel[i]
                ),
                medical_equipment=bool(index.medical[i]),
                vulnerable_occupants=bool(index.vulnerable[i]),
                forecast_heat_index_max_c=float(weather.heat_index_max_c[i]),
                forecast_temp_min_c=float(weather.temp_min_c[i]),
                timezone=index.timezone[i],
                dual_enrollment=index.dual_enrollment[i],
                weather_alerts=alerts_for_site(
                    weather_alerts,
                    float(index.latitude[i]),
                    float(index.longitude[i]),
                    request.start,
                    request.end,
                ),
            )
        )
    return standings


def _hvac_mode(parameters: dict) -> HvacMode | None:
    mode = parameters.get("mode")
    return HvacMode(mode) if mode else None


def decide_eligibility(
    factory: sessionmaker[Session],
    event_id: int,
    index: FleetIndex,
    forecaster: Forecaster,
    request: FlexibilityRequest,
    weather_alerts: Sequence[WeatherAlert] = (),
) -> tuple[np.ndarray, np.ndarray, Counter[str]]:
    """Decide and record eligibility per site and device.

    Returns the site mask, the device mask and the count of excluded sites by
    reason. A site whose every device is excluded is excluded with the reason
    of its devices.
    """
    standings = _standings(index, forecaster, request, weather_alerts)
    site_ok = np.zeros(index.n_sites, dtype=bool)
    device_ok = np.zeros(len(index.device_id), dtype=bool)
    site_reason: dict[int, tuple[ExclusionReason, str]] = {}
    device_rows = []
    for i, standing in enumerate(standings):
        decision = decide_site(standing, request.start, request.end)
        site_ok[i] = decision.eligible
        if not decision.eligible:
            assert decision.reason is not None
            site_reason[i] = (decision.reason, decision.detail)

    for d in range(len(index.device_id)):
        s = int(index.device_site[d])
        if not site_ok[s]:
            continue
        kind = DeviceKind(index.device_kind[d])
        result = decide_device(
            int(index.device_id[d]),
            kind,
            _hvac_mode(index.device_parameters[d]),
            standings[s],
        )
        device_ok[d] = result.eligible
        if not result.eligible:
            assert result.reason is not None
            device_rows.append(
                (s, int(index.device_id[d]), result.reason, result.detail)
            )

    for s in np.flatnonzero(site_ok):
        if not device_ok[index.device_site == s].any():
            site_ok[s] = False
            reasons = [row for row in device_rows if row[0] == s]
            site_reason[int(s)] = (reasons[0][2], reasons[0][3])

    _record_decisions(
        factory, event_id, index, request, site_ok, site_reason, device_rows
    )
    counts = Counter(reason.value for reason, _ in site_reason.values())
    return site_ok, device_ok, counts


def _record_decisions(
    factory: sessionmaker[Session],
    event_id: int,
    index: FleetIndex,
    request: FlexibilityRequest,
    site_ok: np.ndarray,
    site_reason: dict[int, tuple[ExclusionReason, str]],
    device_rows: list[tuple[int, int, ExclusionReason, str]],
) -> None:
    rows = []
    for s in range(index.n_sites):
        reason = site_reason.get(s)
        rows.append(
            {
                "event_id": event_id,
                "site_id": int(index.site_id[s]),
                "device_id": None,
                "eligible": bool(site_ok[s]),
                "reason": reason[0].value if reason else None,
                "detail": reason[1] if reason else "eligible",
                "decided_at": request.received_at,
            }
        )
    for s, device_id, reason, detail in device_rows:
        rows.append(
            {
                "event_id": event_id,
                "site_id": int(index.site_id[s]),
                "device_id": device_id,
                "eligible": False,
                "reason": reason.value,
                "detail": detail,
                "decided_at": request.received_at,
            }
        )
    with transaction(factory) as session:
        insert_rows(session, EligibilityDecision, rows)
        audit.append(session, audit.eligibility_records(rows))
        session.get(Event, event_id).status = "eligibility_decided"  # type: ignore[union-attr]


def build_candidates(
    index: FleetIndex, forecast: DeviceForecast, device_ok: np.ndarray
) -> tuple[planner.Candidates, np.ndarray]:
    """Turn eligible devices with flexibility into planner candidates."""
    usable = device_ok & (forecast.flex_kw > 1e-3)
    positions = np.flatnonzero(usable)
    sites = index.device_site[positions]
    caps = np.array(
        [index.terms[s].max_events_per_season for s in sites], dtype=np.int64
    )
    candidates = planner.Candidates(
        device_id=index.device_id[positions],
        site_id=index.site_id[sites],
        flex_kw=forecast.flex_kw[positions],
        divisible=forecast.divisible[positions],
        impact=forecast.impact[positions],
        events_this_season=index.events_this_season[sites],
        max_events_per_season=caps,
    )
    return candidates, positions


def record_plan(
    factory: sessionmaker[Session],
    event_id: int,
    index: FleetIndex,
    candidates: planner.Candidates,
    positions: np.ndarray,
    chosen: planner.Plan,
) -> None:
    rows = [
        {
            "event_id": event_id,
            "site_id": int(candidates.site_id[k]),
            "device_id": int(candidates.device_id[k]),
            "role": "planned" if chosen.fraction[k] > 0 else "reserve",
            "predicted_flex_kw": float(candidates.flex_kw[k]),
            "planned_fraction": float(chosen.fraction[k]),
            "dispatched_at": None,
            "released_at": None,
            "release_reason": None,
        }
        for k in range(len(candidates))
    ]
    with transaction(factory) as session:
        insert_rows(session, Participation, rows)
        event = session.get(Event, event_id)
        assert event is not None
        event.status = "planned"
    logger.info(
        "event %s planned %.1f kW on %d devices (%s, shortfall %.1f kW)",
        event_id,
        chosen.planned_kw,
        int((chosen.fraction > 0).sum()),
        chosen.method,
        chosen.shortfall_kw,
    )


REMINDER_LEAD_S = 30 * 60


def send_reminders(
    factory: sessionmaker[Session],
    prepared: PreparedEvent,
    channels: NoticeSender | IdempotentChannels,
) -> int:
    """Remind planned customers shortly before the start; return how many were sent.

    Only customers whose first notice arrived in time get a reminder; the
    reminder never makes a late customer eligible. The reminder gives the
    event's stored window, so a changed event is reminded as changed, and a
    cancelled event or a withdrawn site gets none. The reminders go through
    the notice outbox, so a repeated call sends none twice.
    """
    index = prepared.index
    with factory() as session:
        event = session.get(Event, prepared.event_id)
        assert event is not None
        withdrawn = set(
            session.scalars(
                select(SiteWithdrawal.site_id).where(
                    SiteWithdrawal.event_id == prepared.event_id
                )
            ).all()
        )
    if event.status == "cancelled":
        return 0
    request = replace(
        prepared.request, start=event.start, end=event.end, target_kw=event.target_kw
    )
    at = request.start - timedelta(seconds=REMINDER_LEAD_S)
    planned = prepared.candidate_device_pos[prepared.plan.fraction > 0]
    sites = [
        s
        for s in np.unique(index.device_site[planned]).tolist()
        if prepared.notice_on_time[s] and int(index.site_id[s]) not in withdrawn
    ]
    rows = []
    for s in sites:
        text = reminder_notice(
            index.customer_name[s],
            request.start,
            request.end,
            index.timezone[s],
            override_hint=OVERRIDE_HINT,
        )
        rows.append(_pending_notice(prepared, s, "reminder", text.body, at))
    with transaction(factory) as session:
        notice_outbox.enqueue(session, rows)
    notice_outbox.deliver_pending(
        factory,
        prepared.event_id,
        "reminder",
        notice_outbox.idempotent(channels),
        lambda _, receipt: "delivered" if receipt.delivered_at else "failed",
    )
    return len(rows)


def _pending_notice(
    prepared: PreparedEvent, s: int, kind: str, body: str, at: datetime
) -> dict[str, object]:
    index = prepared.index
    customer_id = int(index.customer_id[s])
    return {
        "event_id": prepared.event_id,
        "customer_id": customer_id,
        "kind": kind,
        "channel": index.channel[s].value,
        "body": body,
        "created_at": at,
        "sent_at": None,
        "delivered_at": None,
        "status": "pending",
        "idempotency_key": notice_outbox.notice_key(
            prepared.event_id, customer_id, int(index.site_id[s]), kind
        ),
    }


def _notice_status(delivered: datetime | None, in_time: bool) -> str:
    """Return the stored status; a notice without a receipt has failed."""
    if delivered is None:
        return "failed"
    return "delivered" if in_time else "late"


def _notice_deadlines(prepared: PreparedEvent, sites: np.ndarray) -> dict[int, object]:
    """Return each site's notice deadline, None for an event that needs none."""
    request = prepared.request
    deadlines = {}
    for s in sites.tolist():
        terms = prepared.index.terms[s]
        deadlines[s] = notice_deadline(
            terms.event_class,
            request.start,
            prepared.index.timezone[s],
            terms.min_notice_s,
        )
    return deadlines


def send_notices(
    factory: sessionmaker[Session],
    event_id: int,
    prepared: PreparedEvent,
    channels: NoticeSender | IdempotentChannels,
) -> None:
    """Notify every customer with a planned or reserve device, through the outbox.

    Every notice is stored as pending first and delivered afterwards, so a
    repeated call after a crash delivers only what was not delivered. A notice
    delivered later than the program's lead time before the start marks its
    site as not dispatchable.
    """
    index, request = prepared.index, prepared.request
    sites = np.unique(index.device_site[prepared.candidate_device_pos])
    planned_sites = set(
        index.device_site[
            prepared.candidate_device_pos[prepared.plan.fraction > 0]
        ].tolist()
    )
    rows = []
    for s in sites.tolist():
        text = pre_event_notice(
            index.customer_name[s],
            request.start,
            request.end,
            index.timezone[s],
            reserve=s not in planned_sites,
            override_hint=OVERRIDE_HINT,
            free_opt_outs_per_season=index.terms[s].free_opt_outs_per_season,
        )
        rows.append(
            _pending_notice(prepared, s, "pre_event", text.body, request.received_at)
        )
    with transaction(factory) as session:
        notice_outbox.enqueue(session, rows)
    deadlines = _notice_deadlines(prepared, sites)
    site_of_key = {
        row["idempotency_key"]: s for row, s in zip(rows, sites.tolist(), strict=True)
    }

    def status_of(notice: Notice, receipt: DeliveryReceipt) -> str:
        deadline = deadlines[site_of_key[notice.idempotency_key]]
        delivered = receipt.delivered_at
        # An emergency event needs no advance notice; its notice is still sent.
        in_time = deadline is None or (delivered is not None and delivered <= deadline)
        return _notice_status(delivered, in_time)

    notice_outbox.deliver_pending(
        factory, event_id, "pre_event", notice_outbox.idempotent(channels), status_of
    )
    _record_notice_outcome(factory, prepared, site_of_key, deadlines, notified=True)


def load_notice_outcome(
    factory: sessionmaker[Session], prepared: PreparedEvent
) -> None:
    """Read the stored pre-event notice receipts into ``prepared``."""
    sites = np.unique(prepared.index.device_site[prepared.candidate_device_pos])
    site_of_key: dict[object, int] = {
        notice_outbox.notice_key(
            prepared.event_id,
            int(prepared.index.customer_id[s]),
            int(prepared.index.site_id[s]),
            "pre_event",
        ): s
        for s in sites.tolist()
    }
    deadlines = _notice_deadlines(prepared, sites)
    _record_notice_outcome(factory, prepared, site_of_key, deadlines, notified=False)


def _record_notice_outcome(
    factory: sessionmaker[Session],
    prepared: PreparedEvent,
    site_of_key: dict[object, int],
    deadlines: dict[int, object],
    *,
    notified: bool,
) -> None:
    """Read the stored receipts into ``prepared``; mark the event notified if asked."""
    on_time = np.zeros(prepared.index.n_sites, dtype=bool)
    with transaction(factory) as session:
        stored = session.execute(
            select(Notice.idempotency_key, Notice.delivered_at, Notice.status).where(
                Notice.event_id == prepared.event_id, Notice.kind == "pre_event"
            )
        ).all()
        for key, delivered, status in stored:
            s = site_of_key[key]
            on_time[s] = deadlines[s] is None or status == "delivered"
            if delivered is not None:
                prepared.notice_delivered_at[s] = delivered
        if notified:
            event = session.get(Event, prepared.event_id)
            assert event is not None
            event.status = "notified"
    prepared.notice_on_time = on_time


def prepare_event(
    factory: sessionmaker[Session],
    program_id: int,
    terms: ProgramTerms,
    request: FlexibilityRequest,
    forecaster: Forecaster,
    channels: NoticeSender | IdempotentChannels,
    *,
    method: str = "highs",
    weather_alerts: Sequence[WeatherAlert] = (),
) -> PreparedEvent:
    """Run the steps from request to notices; each step stored whole."""
    prepared = plan_request(
        factory,
        program_id,
        terms,
        request,
        forecaster,
        method=method,
        weather_alerts=weather_alerts,
    )
    send_notices(factory, prepared.event_id, prepared, channels)
    return prepared


def plan_request(
    factory: sessionmaker[Session],
    program_id: int,
    terms: ProgramTerms,
    request: FlexibilityRequest,
    forecaster: Forecaster,
    *,
    method: str = "highs",
    weather_alerts: Sequence[WeatherAlert] = (),
) -> PreparedEvent:
    """Run the steps from request to plan, before any customer is notified.

    ``weather_alerts`` are the official NWS alerts known at planning time; the
    sites they cover are held back by the health-and-safety rules.
    """
    event_id = receive_request(factory, program_id, terms, request)
    return plan_event(
        factory,
        event_id,
        program_id,
        terms,
        request,
        forecaster,
        method=method,
        weather_alerts=weather_alerts,
    )


def plan_event(
    factory: sessionmaker[Session],
    event_id: int,
    program_id: int,
    terms: ProgramTerms,
    request: FlexibilityRequest,
    forecaster: Forecaster,
    *,
    method: str = "highs",
    weather_alerts: Sequence[WeatherAlert] = (),
) -> PreparedEvent:
    """Decide eligibility and plan an event that :func:`receive_request` opened."""
    with factory() as session:
        index = load_fleet_index(session, program_id, request.received_at)
    site_ok, device_ok, exclusions = decide_eligibility(
        factory, event_id, index, forecaster, request, weather_alerts
    )
    forecast = forecaster.flexibility(
        request.received_at,
        request.start,
        request.end,
        device_ok,
        [terms.limits for terms in index.terms],
        index.vulnerable,
    )
    candidates, positions = build_candidates(index, forecast, device_ok)
    no_flex = site_ok & ~np.isin(np.arange(index.n_sites), index.device_site[positions])
    if no_flex.any():
        exclusions[ExclusionReason.NO_FLEXIBILITY.value] += int(no_flex.sum())
        _record_no_flexibility(factory, event_id, index, request, no_flex)
        site_ok = site_ok & ~no_flex
    chosen = planner.plan(
        candidates, request.target_kw, margin=terms.plan_margin, method=method
    )
    record_plan(factory, event_id, index, candidates, positions, chosen)
    prepared = PreparedEvent(
        event_id,
        request,
        terms,
        index,
        site_ok,
        exclusions,
        candidates,
        positions,
        forecast,
        chosen,
    )
    return prepared


def _record_no_flexibility(
    factory: sessionmaker[Session],
    event_id: int,
    index: FleetIndex,
    request: FlexibilityRequest,
    no_flex: np.ndarray,
) -> None:
    rows = [
        {
            "event_id": event_id,
            "site_id": int(index.site_id[s]),
            "device_id": None,
            "eligible": False,
            "reason": ExclusionReason.NO_FLEXIBILITY.value,
            "detail": "no device can reduce load within its limits in this window",
            "decided_at": request.received_at,
        }
        for s in np.flatnonzero(no_flex)
    ]
    with transaction(factory) as session:
        revise_site_decisions(session, rows)
        audit.append(session, audit.eligibility_records(rows))


def revise_site_decisions(session: Session, rows: list[dict]) -> None:
    """Replace sites' decisions for an event, keeping one decision row per site.

    A site found eligible at first can be excluded later (no flexibility, a
    late notice). Its row then contains the final decision and when it was made.
    """
    if not rows:
        return
    table = EligibilityDecision.__table__
    statement = (
        table.update()
        .where(
            table.c.event_id == bindparam("b_event"),
            table.c.site_id == bindparam("b_site"),
            table.c.device_id.is_(None),
        )
        .values(
            eligible=False,
            reason=bindparam("b_reason"),
            detail=bindparam("b_detail"),
            decided_at=bindparam("b_at"),
        )
    )
    session.connection().execute(
        statement,
        [
            {
                "b_event": row["event_id"],
                "b_site": row["site_id"],
                "b_reason": row["reason"],
                "b_detail": row["detail"],
                "b_at": row["decided_at"],
            }
            for row in rows
        ],
    )
