"""The notice outbox: store a notice first, deliver it, then store its receipt.

A notice row is written with status ``pending`` and an idempotency key before
it reaches any channel. Delivery takes the pending rows in small batches and
stores each batch's receipts in one short transaction. A process stopped at
any point leaves every notice either pending (delivered again on restart) or
stored with its receipt, and the channel's idempotency key keeps a notice
handed over twice from reaching the customer twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from coflex.adapters.notices.ledger import IdempotentChannels, NoticeSender
from coflex.adapters.notices.simulated import DeliveryReceipt
from coflex.adapters.store.bulk import insert_rows
from coflex.adapters.store.database import transaction
from coflex.adapters.store.models import Notice
from coflex.domain.operations.notice import Channel
from coflex.services import audit

logger = logging.getLogger(__name__)

DELIVERY_BATCH = 50

StatusRule = Callable[[Notice, DeliveryReceipt], str]


def notice_key(event_id: int, customer_id: int, site_id: int, kind: str) -> str:
    """Return the idempotency key of one event notice to one customer's site."""
    return f"notice:{event_id}:{customer_id}:{site_id}:{kind}"


def idempotent(channels: NoticeSender | IdempotentChannels) -> IdempotentChannels:
    """Return ``channels`` able to deliver by idempotency key."""
    if isinstance(channels, IdempotentChannels):
        return channels
    return IdempotentChannels(channels)


def enqueue(session: Session, rows: list[dict[str, Any]]) -> int:
    """Store pending notices whose key is not stored yet; return how many were new."""
    keys = [row["idempotency_key"] for row in rows]
    stored = set(
        session.scalars(
            select(Notice.idempotency_key).where(Notice.idempotency_key.in_(keys))
        )
    )
    new = [row for row in rows if row["idempotency_key"] not in stored]
    insert_rows(session, Notice, new)
    return len(new)


def deliver_pending(
    factory: sessionmaker[Session],
    event_id: int,
    kind: str,
    channels: IdempotentChannels,
    status_of: StatusRule,
    *,
    batch: int = DELIVERY_BATCH,
) -> int:
    """Deliver the event's pending notices of ``kind``; return how many were sent."""
    with factory() as session:
        pending_ids = list(
            session.scalars(
                select(Notice.id)
                .where(
                    Notice.event_id == event_id,
                    Notice.kind == kind,
                    Notice.status == "pending",
                )
                .order_by(Notice.id)
            )
        )
    for first in range(0, len(pending_ids), batch):
        with transaction(factory) as session:
            notices = session.scalars(
                select(Notice).where(Notice.id.in_(pending_ids[first : first + batch]))
            ).all()
            receipts = [
                channels.deliver(
                    str(n.idempotency_key), Channel(n.channel), n.created_at
                )
                for n in notices
            ]
            rows = [
                _mark(n, r, status_of(n, r))
                for n, r in zip(notices, receipts, strict=True)
            ]
            audit.append(session, audit.notice_records(rows))
    if pending_ids:
        logger.info(
            "event %s: delivered %d %s notices", event_id, len(pending_ids), kind
        )
    return len(pending_ids)


def _mark(notice: Notice, receipt: DeliveryReceipt, status: str) -> Mapping[str, Any]:
    notice.sent_at = receipt.sent_at
    notice.delivered_at = receipt.delivered_at
    notice.status = status
    return {
        "event_id": notice.event_id,
        "customer_id": notice.customer_id,
        "kind": notice.kind,
        "channel": notice.channel,
        "body": notice.body,
        "created_at": notice.created_at,
        "sent_at": notice.sent_at,
        "delivered_at": notice.delivered_at,
        "status": notice.status,
    }


def delivered_at_by_key(
    factory: sessionmaker[Session], event_id: int, kind: str
) -> dict[str, datetime | None]:
    """Return the stored delivery time of each of the event's notices of ``kind``."""
    with factory() as session:
        rows = session.execute(
            select(Notice.idempotency_key, Notice.delivered_at).where(
                Notice.event_id == event_id, Notice.kind == kind
            )
        ).all()
    return {str(key): at for key, at in rows}


def deliver_queued(
    factory: sessionmaker[Session],
    event_id: int,
    channels: IdempotentChannels,
    *,
    batch: int = DELIVERY_BATCH,
) -> int:
    """Deliver the event's queued notices (changes, cancellations, opt-outs).

    The CLI and the API store these as ``queued`` because they hold no notice
    channels; the process that runs the event delivers them. Each gets the
    key ``notice:<id>`` so that a repeated call sends none twice.
    """
    with factory() as session:
        queued_ids = list(
            session.scalars(
                select(Notice.id)
                .where(Notice.event_id == event_id, Notice.status == "queued")
                .order_by(Notice.id)
            )
        )
    for first in range(0, len(queued_ids), batch):
        with transaction(factory) as session:
            notices = session.scalars(
                select(Notice).where(Notice.id.in_(queued_ids[first : first + batch]))
            ).all()
            rows = []
            for notice in notices:
                notice.idempotency_key = notice.idempotency_key or f"notice:{notice.id}"
                receipt = channels.deliver(
                    notice.idempotency_key, Channel(notice.channel), notice.created_at
                )
                status = "delivered" if receipt.delivered_at else "failed"
                rows.append(_mark(notice, receipt, status))
            audit.append(session, audit.notice_records(rows))
    if queued_ids:
        logger.info("event %s: delivered %d queued notices", event_id, len(queued_ids))
    return len(queued_ids)
