"""Checkpoints of a running event, and resuming an event after its runner stopped.

The runner stores its state in the transaction of every decision and of every
delivery (see :meth:`coflex.services.dispatch.EventRunner.deliver`), together
with the state of a simulated fleet, which lives in the runner's process. A
runner killed at any moment therefore leaves a checkpoint that matches the
stored records and the command outbox exactly. Resuming reloads it, delivers
the commands still pending, and continues with the next round. If the event
end has already passed, it restores every device still under control instead
and records why.
"""

from __future__ import annotations

import logging
import pickle
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from coflex.adapters.store.database import transaction
from coflex.adapters.store.models_operations import EventCheckpoint
from coflex.errors import InputError
from coflex.services import command_outbox
from coflex.services.dispatch import EventRunner

logger = logging.getLogger(__name__)

# Release reason of the devices a resumed runner finds past the event end.
RESUMED_AFTER_END = "runner_resumed_after_end"

_RUNNER_FIELDS = (
    "fraction",
    "released",
    "under_control",
    "current_plan",
    "outcome",
    "_previous",
    "step_readings",
    "pending_overrides",
    "counted_round",
    "indoor_history",
)


def create(
    factory: sessionmaker[Session], event_id: int, job: object, at: datetime
) -> None:
    """Store a new event's checkpoint with the run's fixed inputs."""
    with transaction(factory) as session:
        session.add(
            EventCheckpoint(
                event_id=event_id,
                stage="notify",
                last_round=-1,
                phase="delivered",
                job=pickle.dumps(job, protocol=pickle.HIGHEST_PROTOCOL),
                state=None,
                updated_at=at,
                resumes=0,
                note=None,
            )
        )


def load(factory: sessionmaker[Session], event_id: int) -> EventCheckpoint:
    """Return the event's checkpoint.

    Raises
    ------
    InputError
        If the event has no checkpoint.
    """
    with factory() as session:
        checkpoint = session.get(EventCheckpoint, event_id)
        if checkpoint is None:
            raise InputError(
                f"event {event_id} has no checkpoint, so it cannot be resumed: "
                "give the id of an event started by coflex demo",
                value=event_id,
                field="event",
            )
        session.expunge(checkpoint)
    return checkpoint


def job_of(checkpoint: EventCheckpoint) -> Any:
    # The job was pickled by this program into its own database.
    return pickle.loads(checkpoint.job)  # noqa: S301


def set_stage(factory: sessionmaker[Session], event_id: int, stage: str) -> None:
    with transaction(factory) as session:
        checkpoint = session.get(EventCheckpoint, event_id)
        assert checkpoint is not None
        checkpoint.stage = stage
        checkpoint.updated_at = datetime.now(UTC)


def count_resume(factory: sessionmaker[Session], event_id: int) -> int:
    """Count one more resume of the event and return the count."""
    with transaction(factory) as session:
        checkpoint = session.get(EventCheckpoint, event_id)
        assert checkpoint is not None
        checkpoint.resumes += 1
        return checkpoint.resumes


def attach(runner: EventRunner, devices_state: Callable[[], object]) -> None:
    """Make the runner store its checkpoint, with ``devices_state()``, as it runs."""

    def store(session: Session, round_number: int, phase: str) -> None:
        checkpoint = session.get(EventCheckpoint, runner.p.event_id)
        assert checkpoint is not None
        state = {name: getattr(runner, name) for name in _RUNNER_FIELDS}
        checkpoint.state = pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)
        if runner.devices_state is not None:
            checkpoint.devices = runner.devices_state
            runner.devices_state = None
        checkpoint.last_round = round_number
        checkpoint.phase = phase
        checkpoint.stage = "run"
        checkpoint.updated_at = datetime.now(UTC)

    runner.on_checkpoint = store
    runner.capture_devices = lambda: pickle.dumps(
        devices_state(), protocol=pickle.HIGHEST_PROTOCOL
    )


def runner_state(checkpoint: EventCheckpoint) -> dict[str, Any] | None:
    if checkpoint.state is None:
        return None
    # Both were pickled by this program into its own database.
    state = pickle.loads(checkpoint.state)  # noqa: S301
    devices = checkpoint.devices
    state["devices"] = pickle.loads(devices) if devices else None  # noqa: S301
    return state


def resume(
    factory: sessionmaker[Session],
    runner: EventRunner,
    checkpoint: EventCheckpoint,
    state: dict[str, Any],
    *,
    now: datetime | None = None,
) -> None:
    """Continue a stopped run from its checkpoint, through the event end.

    ``state`` is :func:`runner_state` of the checkpoint, with the devices
    already put back in their stored state. ``now`` is the event time at
    which the run resumes for an event paced by the wall clock, and None for
    an event run in simulated time, which continues where it stopped.
    """
    for name in _RUNNER_FIELDS:
        setattr(runner, name, state[name])
    candidate_of_device = {
        int(device): k for k, device in enumerate(runner.p.candidates.device_id)
    }
    with factory() as session:
        runner.queue = command_outbox.pending(
            session, runner.p.event_id, candidate_of_device, runner._kind
        )
    runner.round = checkpoint.last_round
    logger.warning(
        "event %s: resuming in round %d (%s) with %d commands pending",
        runner.p.event_id,
        checkpoint.last_round,
        checkpoint.phase,
        len(runner.queue),
    )
    next_round = checkpoint.last_round + 1
    if checkpoint.phase == "deciding":
        # The step stopped between two batches of overrides: it is repeated
        # from the stored state, and its queued commands go out at its end.
        next_round = checkpoint.last_round
    elif runner.queue or checkpoint.phase != "delivered":
        runner.deliver()
    if checkpoint.last_round > len(runner.step_times()) + 1:
        return  # the event was already closed
    if now is not None and now >= runner.p.request.end:
        _close_after_end(factory, runner, now)
        return
    runner.run_from(next_round)


def _close_after_end(
    factory: sessionmaker[Session], runner: EventRunner, now: datetime
) -> None:
    """Restore the devices still under control of an event whose end has passed.

    Each device was commanded to leave control at the event end on its own,
    because its command carries ``until``. This restore confirms what the
    device already did, and its release reason records that the runner was down.
    """
    note = (
        f"runner resumed at {now.isoformat()}, after the event end; "
        f"{int(runner.under_control.sum())} devices restored"
    )
    with transaction(factory) as session:
        checkpoint = session.get(EventCheckpoint, runner.p.event_id)
        assert checkpoint is not None
        checkpoint.note = note
    logger.warning("event %s: %s", runner.p.event_id, note)
    runner.round = len(runner.step_times()) + 2
    runner.finish(runner.p.request.end, RESUMED_AFTER_END)
