"""SMS notices through a provider's HTTP API.

Providers differ in their request format, so the provider is pluggable: an
``SmsProvider`` turns a notice into the provider's request and reads its
answer. ``JsonHttpProvider`` posts ``{"to": ..., "body": ...}`` with a bearer
token, the shape most SMS APIs accept.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

from coflex.adapters.notices.base import DeliveryReceipt, OutgoingNotice
from coflex.domain.operations.notice import Channel

logger = logging.getLogger(__name__)


class SmsProvider(Protocol):
    def submit(self, phone: str, text: str) -> str:
        """Hand the message to the provider; return its message id or raise OSError."""
        ...


class JsonHttpProvider:
    """A provider reached by an HTTPS POST of JSON with a bearer token."""

    def __init__(self, url: str, token: str, *, timeout_s: float = 10.0) -> None:
        self.url = url
        self.token = token
        self.timeout_s = timeout_s

    def submit(self, phone: str, text: str) -> str:
        request = urllib.request.Request(
            self.url,
            data=json.dumps({"to": phone, "body": text}).encode(),
            headers={
                "Content-Type": "application/json",
                "Authorization": f"Bearer {self.token}",
            },
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
            answer = json.loads(response.read() or b"{}")
        return str(answer.get("id", ""))


class SmsChannel:
    channel = Channel.SMS

    def __init__(
        self,
        provider: SmsProvider,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.provider = provider
        self.clock = clock

    def send(self, notice: OutgoingNotice, at: datetime) -> DeliveryReceipt:
        text = f"{notice.subject}: {notice.body}"
        try:
            self.provider.submit(notice.recipient, text)
        except (OSError, urllib.error.URLError, ValueError) as error:
            logger.warning(
                "SMS notice for customer %s failed: %s", notice.customer_id, error
            )
            return DeliveryReceipt(
                self.channel, at, None, f"{type(error).__name__}: {error}"
            )
        return DeliveryReceipt(self.channel, at, self.clock())
