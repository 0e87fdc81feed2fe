"""The notice channel seam: what any channel returns for a notice it sends."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from coflex.domain.operations.notice import Channel


@dataclass(frozen=True)
class OutgoingNotice:
    """One notice for one customer on one channel."""

    customer_id: int
    recipient: str  # email address, phone number or account reference
    subject: str
    body: str


@dataclass(frozen=True)
class DeliveryReceipt:
    """The channel's answer: when the notice was delivered, or why it failed.

    For email, delivery means the receiving mail server accepted the message;
    for SMS, that the provider accepted it for the handset.
    """

    channel: Channel
    sent_at: datetime
    delivered_at: datetime | None
    error: str | None = None

    @property
    def delivered(self) -> bool:
        return self.delivered_at is not None


class NoticeChannel(Protocol):
    channel: Channel

    def send(self, notice: OutgoingNotice, at: datetime) -> DeliveryReceipt:
        """Send one notice and return its receipt, failures included."""
        ...
