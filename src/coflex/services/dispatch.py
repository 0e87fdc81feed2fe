"""Running an event: dispatch, overrides, reserve, the safety watchdog, restore.

The loop advances in steps of at most 60 seconds. An override requested during
a step is honoured at the end of that step, so within 60 seconds, and the
planner calls reserve devices to cover the gap it leaves.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

import numpy as np
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from coflex.adapters.devices.base import (
    Acknowledgement,
    Action,
    Command,
    ContactFault,
    DeviceAdapter,
    Telemetry,
)
from coflex.adapters.store.bulk import insert_rows
from coflex.adapters.store.database import transaction
from coflex.adapters.store.models import (
    DeviceCommand,
    Event,
    EventTrace,
    Override,
    Participation,
    SafetyRelease,
)
from coflex.adapters.store.models_devices import FailSafeAction
from coflex.domain.fleet import DeviceKind, ExclusionReason
from coflex.domain.operations import planner, watchdog
from coflex.services import (
    audit,
    command_outbox,
    contract_guard,
    emergency_notices,
    event_changes,
    vetoes,
)
from coflex.services.events import PreparedEvent, revise_site_decisions

logger = logging.getLogger(__name__)

STEP_S = 60
# Overrides honoured, and command acknowledgements stored, per transaction.
# Small transactions keep SQLite's single write lock free for the web, which
# stores new overrides while the event runs.
OVERRIDE_BATCH = 100
ACKNOWLEDGEMENT_BATCH = 250
TEMPERATURE_GUARD_C = 0.2
SOC_GUARD = 0.01
TANK_GUARD_C = 0.5


@dataclass(frozen=True)
class OverrideRequest:
    """A customer's request to stop the event at their site."""

    site_pos: int
    requested_at: datetime
    channel: str  # "app", "portal" or "thermostat"


class OverrideInbox(Protocol):
    """A source of override requests that arrive while the event runs."""

    def take_due(
        self,
        session: Session,
        step_start: datetime,
        step_end: datetime,
        already_released: Collection[int],
        limit: int | None = None,
    ) -> list[OverrideRequest]:
        """Return at most ``limit`` requests made by ``step_end`` and mark them taken.

        ``has_more`` is then True if more requests may be due.
        """
        ...

    has_more: bool


@dataclass
class DispatchOutcome:
    dispatched_sites: set[int] = field(default_factory=set)
    dispatched_devices: set[int] = field(default_factory=set)
    overridden_sites: dict[int, tuple[datetime, datetime, str]] = field(
        default_factory=dict
    )
    reserve_called: int = 0
    safety_releases: Counter[str] = field(default_factory=Counter)
    safety_violations: int = 0
    notices_late_dispatched: int = 0
    late_notice_sites: set[int] = field(default_factory=set)
    shortfall_kw: float = 0.0
    vetoes: int = 0
    plan: planner.Plan | None = None
    # Sites taken out after the plan (opt-out, late change notice, missed
    # emergency notice), by reason; and when a cancellation stopped the event.
    withdrawn_sites: Counter[str] = field(default_factory=Counter)
    cancelled_at: datetime | None = None


class EventRunner:
    """Drives one prepared event against a device adapter and its twin.

    The twin is the same fleet left on its customers' own schedules. The
    difference between the two is the reduction the event really caused, and
    the report sets it beside the baseline measurement.
    """

    def __init__(
        self,
        factory: sessionmaker[Session],
        prepared: PreparedEvent,
        adapter: DeviceAdapter,
        twin: DeviceAdapter,
    ) -> None:
        self.factory = factory
        self.p = prepared
        self.adapter = adapter
        self.twin = twin
        n_candidates = len(prepared.candidates)
        self.fraction = prepared.plan.fraction.copy()
        self.released = np.zeros(n_candidates, dtype=bool)
        self.under_control = np.zeros(n_candidates, dtype=bool)
        self.current_plan = prepared.plan
        self.outcome = DispatchOutcome()
        self._previous: Telemetry | None = None
        # Indoor temperatures of the HVAC candidates, one row per step, for
        # the ASHRAE 55 drift limits; rows older than the longest period go.
        self.indoor_history: list[np.ndarray] = []
        # Each candidate's device kind; the candidates are fixed for the event.
        self.candidate_kinds = np.array(
            [prepared.index.device_kind[q] for q in prepared.candidate_device_pos]
        )
        self.on_step: Callable[[], None] | None = None
        # A live event waits for the wall clock before each step and takes
        # overrides stored by the portal and the API from the inbox.
        self.wait_until: Callable[[datetime], None] | None = None
        self.override_inbox: OverrideInbox | None = None
        # Commands stored in the outbox and not yet delivered, the current
        # round (0 and 1 start the event, 2 onwards are its steps, the last
        # one restores every device) and the step readings waiting for the
        # acknowledgements before the step's trace is written.
        self.queue: list[command_outbox.QueuedCommand] = []
        self.round = 0
        self.step_readings: tuple[datetime, Telemetry, Telemetry] | None = None
        self.pending_overrides: list[OverrideRequest] = []
        # The round whose safety violations are counted, so that a step
        # repeated after a resume does not count them twice.
        self.counted_round = -1
        # Stores the checkpoint in the transaction of each decision and
        # delivery: called with the session, the round and the phase.
        self.on_checkpoint: Callable[[Session, int, str], None] | None = None
        self.capture_devices: Callable[[], bytes] | None = None
        self.devices_state: bytes | None = None
        with factory() as session:
            rows = session.execute(
                select(Participation.device_id, Participation.id).where(
                    Participation.event_id == prepared.event_id
                )
            ).all()
            event_changes.refresh_window(self, session)
        self._participation_id = dict(rows)

    # -- commands -----------------------------------------------------------------

    def latest_telemetry(self) -> Telemetry | None:
        """Return the readings of the last step, or None before the first."""
        return self._previous

    def control_value(self, k: int) -> float:
        """Return the command value for candidate ``k`` at its planned fraction."""
        return self._control_value(k)

    def _control_value(self, k: int) -> float:
        pos = self.p.candidate_device_pos[k]
        idle = float(self.p.forecast.idle_control[pos])
        full = float(self.p.forecast.full_control[pos])
        return idle + float(self.fraction[k]) * (full - idle)

    def _kind(self, k: int) -> DeviceKind:
        return DeviceKind(self.p.index.device_kind[self.p.candidate_device_pos[k]])

    def _send(
        self,
        session: Session,
        ks: np.ndarray,
        action: Action,
        reason: str,
        at: datetime,
    ) -> None:
        """Store commands in the outbox with this decision; deliver them later.

        A restore takes the device out of control at once; a curtailment puts
        it under control only when the device accepts it.
        """
        if action is Action.CURTAIL:
            ks = contract_guard.apply(self, session, ks, at)
            ks = vetoes.apply(self, session, ks, at)
        if len(ks) == 0:
            return
        commands = [
            Command(
                device_id=int(self.p.candidates.device_id[k]),
                kind=self._kind(k),
                action=action,
                value=self._control_value(k) if action is Action.CURTAIL else None,
                reason=reason,
                until=self.p.request.end if action is Action.CURTAIL else None,
            )
            for k in ks
        ]
        self.queue += command_outbox.enqueue(
            session, self.p.event_id, self.round, ks.tolist(), commands, at
        )
        if action is Action.RESTORE:
            self.under_control[ks] = False

    def deliver(self) -> None:
        """Deliver the queued commands and store the acknowledgements in batches.

        Every batch's transaction also writes the checkpoint, and the last one
        the step's trace when a step is waiting for it, so that the stored
        acknowledgements, the runner's state and the devices' state match.
        """
        queued, self.queue = self.queue, []
        acks: list[Acknowledgement] = []
        for at in sorted({item.at for item in queued}):
            batch = [item for item in queued if item.at == at]
            acks += self.adapter.send([item.command for item in batch], at)
        queued = sorted(queued, key=lambda item: item.at)
        self._capture_devices()
        for first in range(0, max(len(queued), 1), ACKNOWLEDGEMENT_BATCH):
            last = first + ACKNOWLEDGEMENT_BATCH >= len(queued)
            part = slice(first, first + ACKNOWLEDGEMENT_BATCH)
            with transaction(self.factory) as session:
                self._store_acknowledgements(session, queued[part], acks[part])
                if last and self.step_readings is not None:
                    self._trace(session, *self.step_readings)
                    self.step_readings = None
                self._checkpoint(session, "delivered" if last else "delivering")

    def _store_acknowledgements(
        self,
        session: Session,
        queued: list[command_outbox.QueuedCommand],
        acks: list[Acknowledgement],
    ) -> None:
        command_outbox.mark_answered(session, queued, acks)
        for action in Action:
            chosen = [
                i for i, item in enumerate(queued) if item.command.action is action
            ]
            if chosen:
                self._record_answers(
                    session, [queued[i] for i in chosen], [acks[i] for i in chosen]
                )

    def _record_answers(
        self,
        session: Session,
        queued: list[command_outbox.QueuedCommand],
        acks: list[Acknowledgement],
    ) -> None:
        action = queued[0].command.action
        ks = np.array([item.candidate for item in queued], dtype=np.int64)
        accepted = np.array([ack.accepted for ack in acks], dtype=bool)
        rows, participation = [], []
        for item, ack in zip(queued, acks, strict=True):
            command = item.command
            rows.append(
                {
                    "event_id": self.p.event_id,
                    "device_id": command.device_id,
                    "action": command.action.value,
                    "value": command.value,
                    "reason": command.reason,
                    "issued_at": item.at,
                    "acknowledged_at": ack.at if ack.accepted else None,
                }
            )
            if action is Action.CURTAIL and not ack.accepted:
                continue  # released with its fault by _record_faults
            key = "dispatched_at" if action is Action.CURTAIL else "released_at"
            change = {"id": self._participation_id[command.device_id], key: item.at}
            if action is Action.RESTORE:
                change["release_reason"] = command.reason
            participation.append(change)
        insert_rows(session, DeviceCommand, rows)
        audit.append(session, audit.command_records(rows))
        if participation:
            session.execute(update(Participation), participation)
        if action is Action.CURTAIL:
            self.under_control[ks[accepted]] = True
        self._record_faults(session, ks, acks, action, queued[0].at)
        if action is Action.CURTAIL:
            for k in ks[accepted]:
                self.outcome.dispatched_devices.add(int(k))
                site = int(self.p.index.device_site[self.p.candidate_device_pos[k]])
                self.outcome.dispatched_sites.add(site)
                if not self.p.notice_on_time[site]:
                    self.outcome.notices_late_dispatched += 1

    def _capture_devices(self) -> None:
        # Serialised before the transaction opens, so that SQLite's write lock
        # is not held while a large fleet is pickled.
        if self.capture_devices is not None:
            self.devices_state = self.capture_devices()

    def _checkpoint(self, session: Session, phase: str) -> None:
        if self.on_checkpoint is not None:
            self.on_checkpoint(session, self.round, phase)

    def _record_faults(
        self,
        session: Session,
        ks: np.ndarray,
        acks: list[Acknowledgement],
        action: Action,
        at: datetime,
    ) -> None:
        """Record every command a device did not accept, and release it.

        A device that did not take a curtailment leaves the event. A device
        that did not confirm a restore is out of contact, and its own
        fallback to the customer's schedule takes over.
        """
        failed = [(k, ack) for k, ack in zip(ks, acks, strict=True) if not ack.accepted]
        if not failed:
            return
        rows, participation = [], []
        for k, ack in failed:
            fault = ack.fault or ContactFault.COMMAND_REJECTED
            rows.append(
                {
                    "event_id": self.p.event_id,
                    "device_id": ack.device_id,
                    "at": at,
                    "fault": fault.value,
                    "action": "released"
                    if action is Action.CURTAIL
                    else "device_fallback",
                    "detail": (ack.detail or fault.value)[:200],
                }
            )
            if action is Action.CURTAIL:
                self.released[k] = True
                self.fraction[k] = 0.0
                participation.append(
                    {
                        "id": self._participation_id[ack.device_id],
                        "released_at": at,
                        "release_reason": fault.value,
                    }
                )
        insert_rows(session, FailSafeAction, rows)
        if participation:
            session.execute(update(Participation), participation)
        logger.warning(
            "event %s: %d devices did not accept %s commands; fail-safe recorded",
            self.p.event_id,
            len(failed),
            action.value,
        )

    def _release_lost(
        self, session: Session, telemetry: Telemetry, at: datetime
    ) -> None:
        """Release the devices that lost contact, and record why."""
        if not telemetry.lost_contact:
            return
        lost = np.fromiter(telemetry.lost_contact, dtype=np.int64)
        ks = np.flatnonzero(np.isin(self.p.candidates.device_id, lost) & ~self.released)
        controlled = ks[self.under_control[ks]]
        rows = []
        for k in controlled:
            device_id = int(self.p.candidates.device_id[k])
            fault = telemetry.lost_contact[device_id]
            rows.append(
                {
                    "event_id": self.p.event_id,
                    "device_id": device_id,
                    "at": at,
                    "fault": fault.value,
                    "action": "released",
                    "detail": f"{fault.value} reported at {telemetry.at.isoformat()}",
                }
            )
        insert_rows(session, FailSafeAction, rows)
        device_ids = self.p.candidates.device_id[ks]
        faults = [telemetry.lost_contact[int(d)] for d in device_ids]
        for fault in set(faults):
            same = np.array([f is fault for f in faults], dtype=bool)
            self._release(session, ks[same], fault.value, at)

    def _candidate_sites(self) -> np.ndarray:
        return self.p.index.device_site[self.p.candidate_device_pos]

    # -- steps ---------------------------------------------------------------------

    def _replan(self, session: Session, at: datetime) -> None:
        """Cover released devices with reserve and dispatch the new picks."""
        before = self.fraction.copy()
        plan = planner.cover_shortfall(
            self.p.candidates,
            planner.Plan(
                fraction=self.fraction,
                planned_kw=float(self.p.candidates.flex_kw @ self.fraction),
                target_kw=self.current_plan.target_kw,
                margin=self.current_plan.margin,
                shortfall_kw=0.0,
                objective=0.0,
                method=self.current_plan.method,
                solve_seconds=0.0,
            ),
            self.released,
        )
        self.current_plan = plan
        self.fraction = plan.fraction.copy()
        picked = np.flatnonzero((before == 0) & (self.fraction > 0) & ~self.released)
        if len(picked):
            self.outcome.reserve_called += len(picked)
            self._send(session, picked, Action.CURTAIL, "reserve_cover", at)

    def _release(
        self, session: Session, ks: np.ndarray, reason: str, at: datetime
    ) -> None:
        """Release candidates for the rest of the event, restoring those under control.

        Released candidates are never picked again in this event, reserve
        devices of an overridden site included.
        """
        controlled = ks[self.under_control[ks]]
        self._send(session, controlled, Action.RESTORE, reason, at)
        self.released[ks] = True
        self.fraction[ks] = 0.0

    def release(
        self, session: Session, ks: np.ndarray, reason: str, at: datetime
    ) -> None:
        """Release candidates ``ks`` for the rest of the event, recording ``reason``."""
        self._release(session, ks, reason, at)

    def start(self) -> None:
        """Drop sites whose notice came late or who withdrew, and dispatch the plan.

        A cancelled event dispatches nothing.
        """
        at = self.p.request.start
        sites = self._candidate_sites()
        late = ~self.p.notice_on_time[sites]
        self.released |= late
        late_sites = np.unique(sites[late])
        self.outcome.late_notice_sites = set(late_sites.tolist())
        # Fresh readings for the pre-command veto; the adapter is already at ``at``.
        self._previous = self.adapter.advance(at)
        self.round = 0
        self._capture_devices()
        with transaction(self.factory) as session:
            if event_changes.apply_to_runner(self, session, at):
                self.outcome.cancelled_at = at
                self.outcome.plan = self.current_plan
                logger.info(
                    "event %s is cancelled: nothing dispatched", self.p.event_id
                )
                return
            self._record_late(session, late_sites, at)
            self.fraction[late] = 0.0
            planned = np.flatnonzero(self.fraction > 0)
            self._send(session, planned, Action.CURTAIL, "event_start", at)
            session.get(Event, self.p.event_id).status = "running"  # type: ignore[union-attr]
            self._checkpoint(session, "decided")
        self.deliver()
        self._cover_at_start()

    def _cover_at_start(self) -> None:
        """Cover the devices that rejected their first command with reserve."""
        self.round = 1
        self._capture_devices()
        with transaction(self.factory) as session:
            self._replan(session, self.p.request.start)
            self._checkpoint(session, "decided")
        self.deliver()
        logger.info(
            "event %s started with %d devices under control",
            self.p.event_id,
            int(self.under_control.sum()),
        )

    def _record_late(self, session: Session, sites: np.ndarray, at: datetime) -> None:
        rows = [
            {
                "event_id": self.p.event_id,
                "site_id": int(self.p.index.site_id[s]),
                "device_id": None,
                "eligible": False,
                "reason": ExclusionReason.NOTICE_LATE.value,
                "detail": "notice delivered later than the program's lead time",
                "decided_at": at,
            }
            for s in sites
        ]
        revise_site_decisions(session, rows)
        audit.append(session, audit.eligibility_records(rows))

    def step_times(self) -> list[datetime]:
        """Return the end of every step, from the first to the event end."""
        start, end = self.p.request.start, self.p.request.end
        count = math.ceil((end - start).total_seconds() / STEP_S)
        return [
            min(start + timedelta(seconds=STEP_S * i), end) for i in range(1, count + 1)
        ]

    def run(self, overrides: list[OverrideRequest]) -> DispatchOutcome:
        """Run from the event start to its end and restore every device."""
        self.pending_overrides = sorted(overrides, key=lambda o: o.requested_at)
        self.start()
        if self.outcome.cancelled_at is not None:
            return self.outcome
        return self.run_from(2)

    def run_from(self, first_round: int) -> DispatchOutcome:
        """Run the steps from round ``first_round`` on, then restore every device.

        A resumed run calls this with the round after the last one stored.
        """
        if first_round <= 1:
            self._cover_at_start()
        times = self.step_times()
        for i, following in enumerate(times):
            if i + 2 < first_round:
                continue
            self.round = i + 2
            self._step(times[i - 1] if i else self.p.request.start, following)
            if self.on_step is not None:
                self.on_step()
            if self.outcome.cancelled_at is not None:
                return self.outcome
        self.round = len(times) + 2
        self.finish(self.p.request.end)
        return self.outcome

    def _step(self, at: datetime, following: datetime) -> None:
        end = self.p.request.end
        if self.wait_until is not None:
            self.wait_until(following)
        telemetry = self.adapter.advance(following)
        counterfactual = self.twin.advance(following)
        self._capture_devices()
        with transaction(self.factory) as session:
            if self.counted_round != self.round:
                self._count_violations(telemetry)
                self.counted_round = self.round
            emergency_notices.withdraw_unnotified(self, session, following)
            cancelled = event_changes.apply_to_runner(self, session, following)
            if cancelled:
                self._cancel(session, following)
                self._checkpoint(session, "decided")
            else:
                self._release_lost(session, telemetry, following)
                due = [
                    o for o in self.pending_overrides if o.requested_at <= following
                ]
                self.pending_overrides = [
                    o for o in self.pending_overrides if o.requested_at > following
                ]
                more = self._take_overrides(session, due, at, following)
                self._checkpoint(session, "deciding")
        if cancelled:
            self.deliver()
            return
        while more:
            with transaction(self.factory) as session:
                more = self._take_overrides(session, [], at, following)
                self._checkpoint(session, "deciding")
        with transaction(self.factory) as session:
            self._watch(session, telemetry, following)
            if following < end and self.released.any():
                self._replan(session, following)
            self.step_readings = (following, telemetry, counterfactual)
            self._previous = telemetry
            self._checkpoint(session, "decided")
        self.deliver()

    def _take_overrides(
        self,
        session: Session,
        due: list[OverrideRequest],
        at: datetime,
        following: datetime,
    ) -> bool:
        """Honour one batch of due overrides; return True if more may be due."""
        inbox = self.override_inbox
        if inbox is not None:
            due = due + inbox.take_due(
                session,
                at,
                following,
                self.outcome.overridden_sites.keys(),
                limit=OVERRIDE_BATCH,
            )
        self._honour_overrides(session, due, following)
        return inbox is not None and inbox.has_more

    def _cancel(self, session: Session, at: datetime) -> None:
        """Release every device of a cancelled event; the event stays cancelled."""
        self._release(session, np.flatnonzero(~self.released), "event_cancelled", at)
        self.outcome.cancelled_at = at
        self.outcome.shortfall_kw = self.current_plan.shortfall_kw
        self.outcome.plan = self.current_plan
        logger.info(
            "event %s cancelled while running; every device released",
            self.p.event_id,
        )

    def _honour_overrides(
        self, session: Session, due: list[OverrideRequest], at: datetime
    ) -> None:
        sites = self._candidate_sites()
        rows = []
        for request in due:
            ks = np.flatnonzero(sites == request.site_pos)
            self._release(session, ks, "customer_override", at)
            rows.append(
                {
                    "event_id": self.p.event_id,
                    "site_id": int(self.p.index.site_id[request.site_pos]),
                    "channel": request.channel,
                    "requested_at": request.requested_at,
                    "honoured_at": at,
                    "penalty": 0.0,
                }
            )
            self.outcome.overridden_sites[request.site_pos] = (
                request.requested_at,
                at,
                request.channel,
            )
        if rows:
            insert_rows(session, Override, rows)
            audit.append(session, audit.override_records(rows))
            logger.info("event %s honoured %d overrides", self.p.event_id, len(rows))

    def _finish_trace_values(
        self, telemetry: Telemetry, counterfactual: Telemetry
    ) -> tuple[float, float]:
        return float(np.nansum(telemetry.site_power_kw)), float(
            np.nansum(counterfactual.site_power_kw)
        )

    def _trace(
        self,
        session: Session,
        at: datetime,
        telemetry: Telemetry,
        counterfactual: Telemetry,
    ) -> None:
        fleet_kw, twin_kw = self._finish_trace_values(telemetry, counterfactual)
        commanded = float(
            self.p.candidates.flex_kw[self.under_control]
            @ self.fraction[self.under_control]
        )
        session.add(
            EventTrace(
                event_id=self.p.event_id,
                at=at,
                requested_kw=self.p.request.target_kw,
                commanded_kw=commanded,
                fleet_power_kw=fleet_kw,
                counterfactual_kw=twin_kw,
                devices_under_control=int(self.under_control.sum()),
            )
        )

    # -- safety --------------------------------------------------------------------

    def _quantities(
        self, telemetry: Telemetry
    ) -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray, np.ndarray, float]]:
        """List the watched quantities: name, candidates, value, limit, upper, guard."""
        pos = self.p.candidate_device_pos
        sites = self.p.index.device_site[pos]
        kinds = self.candidate_kinds
        vulnerable = self.p.index.vulnerable[sites]
        limits = [self.p.index.terms[s].limits for s in sites]
        cooling = self.p.forecast.cooling[pos]
        out = []
        hvac = np.flatnonzero(kinds == DeviceKind.HVAC.value)
        if len(hvac):
            upper = cooling[hvac]
            limit = np.array(
                [
                    limits[k].indoor_max_for(bool(vulnerable[k]))
                    if upper[i]
                    else limits[k].indoor_min_for(bool(vulnerable[k]))
                    for i, k in enumerate(hvac)
                ]
            )
            out.append(
                (
                    "indoor_temperature",
                    hvac,
                    telemetry.indoor_temp_c[pos[hvac]],
                    limit,
                    upper,
                    TEMPERATURE_GUARD_C,
                )
            )
        battery = np.flatnonzero(kinds == DeviceKind.BATTERY.value)
        if len(battery):
            limit = np.array([limits[k].battery_reserve_fraction for k in battery])
            out.append(
                (
                    "battery_reserve",
                    battery,
                    telemetry.battery_soc_fraction[pos[battery]],
                    limit,
                    np.zeros(len(battery), bool),
                    SOC_GUARD,
                )
            )
        tank = np.flatnonzero(kinds == DeviceKind.WATER_HEATER.value)
        if len(tank):
            limit = np.array([limits[k].water_heater_min_c for k in tank])
            out.append(
                (
                    "tank_temperature",
                    tank,
                    telemetry.tank_temp_c[pos[tank]],
                    limit,
                    np.zeros(len(tank), bool),
                    TANK_GUARD_C,
                )
            )
        return out

    def _count_violations(self, telemetry: Telemetry) -> None:
        for _, ks, value, limit, upper, _ in self._quantities(telemetry):
            mask = watchdog.violations(value, limit, upper, self.under_control[ks])
            self.outcome.safety_violations += int(mask.sum())

    def _watch(self, session: Session, telemetry: Telemetry, at: datetime) -> None:
        previous = self._previous or telemetry
        for name, ks, value, limit, upper, guard in self._quantities(telemetry):
            field_name = {
                "indoor_temperature": "indoor_temp_c",
                "battery_reserve": "battery_soc_fraction",
                "tank_temperature": "tank_temp_c",
            }[name]
            before = getattr(previous, field_name)[self.p.candidate_device_pos[ks]]
            result = watchdog.check(
                watchdog.WatchedQuantity(
                    name=name,
                    value=value,
                    previous=before,
                    limit=limit,
                    upper=upper,
                    under_control=self.under_control[ks],
                    guard=guard,
                ),
                step_s=STEP_S,
                prior_step_s=STEP_S,
            )
            hit = np.flatnonzero(result.mask)
            if len(hit):
                self._safety_release(session, ks[hit], result, hit, at)
        self._watch_drift(session, telemetry, at)

    def _watch_drift(self, session: Session, telemetry: Telemetry, at: datetime) -> None:
        """Release HVAC devices whose indoor temperature moves too fast."""
        pos = self.p.candidate_device_pos
        hvac = np.flatnonzero(self.candidate_kinds == DeviceKind.HVAC.value)
        if len(hvac) == 0:
            return
        self.indoor_history.append(telemetry.indoor_temp_c[pos[hvac]].copy())
        rows_kept = int(watchdog.DRIFT_LIMITS_C[-1][0] // STEP_S) + 1
        del self.indoor_history[:-rows_kept]
        result = watchdog.check_drift(
            np.array(self.indoor_history),
            STEP_S,
            self.under_control[hvac],
            TEMPERATURE_GUARD_C,
            limits=watchdog.DRIFT_LIMITS_C,
        )
        hit = np.flatnonzero(result.mask)
        if len(hit):
            self._safety_release(session, hvac[hit], result, hit, at)

    def _safety_release(
        self,
        session: Session,
        ks: np.ndarray,
        result: watchdog.Releases,
        hit: np.ndarray,
        at: datetime,
    ) -> None:
        """Release candidates ``ks`` for a watchdog finding and record each release."""
        self._release(session, ks, result.reason, at)
        self.outcome.safety_releases[result.reason] += len(ks)
        insert_rows(
            session,
            SafetyRelease,
            [
                {
                    "event_id": self.p.event_id,
                    "device_id": int(self.p.candidates.device_id[k]),
                    "released_at": at,
                    "reason": result.reason,
                    "observed_value": float(result.observed[i]),
                    "limit_value": float(result.limit[i]),
                }
                for k, i in zip(ks, hit, strict=True)
            ],
        )

    def finish(self, end: datetime, reason: str = "event_end") -> None:
        """Restore every device still under control and close the event."""
        self._capture_devices()
        with transaction(self.factory) as session:
            still = np.flatnonzero(self.under_control)
            self._send(session, still, Action.RESTORE, reason, end)
            session.get(Event, self.p.event_id).status = "ended"  # type: ignore[union-attr]
            self._checkpoint(session, "decided")
        self.deliver()
        self.outcome.shortfall_kw = self.current_plan.shortfall_kw
        self.outcome.plan = self.current_plan
        logger.info("event %s ended; every device restored", self.p.event_id)
