"""The command outbox: device commands stored with the decision, then delivered.

The event runner writes every command it decides on in the transaction that
stores the decision, as a ``pending`` row with an idempotency key. Only after
that transaction commits does the adapter deliver the commands, and the answers
are stored in a second transaction. A runner killed in between leaves the rows
pending, and the resumed runner delivers them again. Redelivery is safe
because a command sets an absolute state (a setpoint offset, a discharge power,
the customer's own schedule), so a device that got it twice ends in the
state it would have reached with one delivery.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from coflex.adapters.devices.base import Acknowledgement, Action, Command
from coflex.adapters.store.bulk import insert_rows
from coflex.adapters.store.models_operations import CommandOutbox
from coflex.domain.fleet import DeviceKind


@dataclass(frozen=True)
class QueuedCommand:
    """A stored command waiting for delivery, with its candidate position."""

    candidate: int
    command: Command
    key: str
    at: datetime


def command_kind(action: Action, reason: str) -> str:
    """Return the kind: ``dispatch``, ``release`` (during the event), ``restore``."""
    if action is Action.CURTAIL:
        return "dispatch"
    return "restore" if reason == "event_end" else "release"


def command_key(event_id: int, device_id: int, round_number: int, kind: str) -> str:
    return f"command:{event_id}:{device_id}:{round_number}:{kind}"


def enqueue(
    session: Session,
    event_id: int,
    round_number: int,
    candidates: Sequence[int],
    commands: Sequence[Command],
    at: datetime,
) -> list[QueuedCommand]:
    """Store commands as pending in the caller's transaction and return them queued."""
    queued, rows = [], []
    for k, command in zip(candidates, commands, strict=True):
        kind = command_kind(command.action, command.reason)
        key = command_key(event_id, command.device_id, round_number, kind)
        queued.append(QueuedCommand(int(k), command, key, at))
        rows.append(
            {
                "event_id": event_id,
                "device_id": command.device_id,
                "round": round_number,
                "kind": kind,
                "idempotency_key": key,
                "action": command.action.value,
                "value": command.value,
                "reason": command.reason,
                "until": command.until,
                "created_at": at,
                "status": "pending",
                "answered_at": None,
                "attempts": 0,
                "detail": None,
            }
        )
    insert_rows(session, CommandOutbox, rows)
    return queued


def mark_answered(
    session: Session, queued: Sequence[QueuedCommand], acks: Sequence[Acknowledgement]
) -> None:
    """Store each device's answer on its outbox row."""
    rows = [
        {
            "b_key": item.key,
            "status": "acknowledged" if ack.accepted else "rejected",
            "answered_at": ack.at,
            "detail": (ack.detail or (ack.fault.value if ack.fault else ""))[:200]
            or None,
        }
        for item, ack in zip(queued, acks, strict=True)
    ]
    if not rows:
        return
    table = CommandOutbox.__table__
    statement = (
        update(table)
        .where(table.c.idempotency_key == bindparam("b_key"))
        .values(
            status=bindparam("status"),
            answered_at=bindparam("answered_at"),
            detail=bindparam("detail"),
            attempts=table.c.attempts + 1,
        )
    )
    session.connection().execute(statement, rows)


def pending(
    session: Session,
    event_id: int,
    candidate_of_device: dict[int, int],
    kind_of_candidate: Callable[[int], DeviceKind],
) -> list[QueuedCommand]:
    """Return the event's commands stored but not yet answered, in stored order."""
    rows = session.scalars(
        select(CommandOutbox)
        .where(CommandOutbox.event_id == event_id, CommandOutbox.status == "pending")
        .order_by(CommandOutbox.id)
    ).all()
    queued = []
    for row in rows:
        k = candidate_of_device[row.device_id]
        command = Command(
            device_id=row.device_id,
            kind=kind_of_candidate(k),
            action=Action(row.action),
            value=row.value,
            reason=row.reason,
            until=row.until,
        )
        queued.append(QueuedCommand(k, command, row.idempotency_key, row.created_at))
    return queued
