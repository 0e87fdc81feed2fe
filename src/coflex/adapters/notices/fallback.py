"""Delivering a notice on the customer's preferred channel, then on the others."""

from __future__ import annotations

from datetime import datetime

from coflex.adapters.notices.base import DeliveryReceipt, NoticeChannel, OutgoingNotice
from coflex.domain.operations.notice import Channel


def deliver_with_fallback(
    recipients: dict[Channel, str],
    preferred: Channel,
    channels: dict[Channel, NoticeChannel],
    subject: str,
    body: str,
    customer_id: int,
    at: datetime,
) -> list[DeliveryReceipt]:
    """Try the preferred channel first, then every other channel the customer has.

    Returns every attempt's receipt in order; the last is the delivered one,
    unless all failed. A failed notice is never dropped silently: each
    failure is in the list for the outbox to store.
    """
    order = [preferred] + [c for c in channels if c is not preferred]
    receipts: list[DeliveryReceipt] = []
    for channel in order:
        recipient = recipients.get(channel)
        sender = channels.get(channel)
        if recipient is None or sender is None:
            continue
        receipt = sender.send(OutgoingNotice(customer_id, recipient, subject, body), at)
        receipts.append(receipt)
        if receipt.delivered:
            break
    return receipts
