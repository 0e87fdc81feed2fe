"""Email notices over SMTP (RFC 5321), with STARTTLS and login when configured."""

from __future__ import annotations

import logging
import smtplib
import ssl
from collections.abc import Callable
from datetime import UTC, datetime
from email.message import EmailMessage

from coflex.adapters.notices.base import DeliveryReceipt, OutgoingNotice
from coflex.domain.operations.notice import Channel

logger = logging.getLogger(__name__)


class SmtpChannel:
    """Send notices through an SMTP relay.

    A notice counts as delivered when the relay accepts it (reply 250 to the
    end of DATA). Credentials come from the caller, who reads them from the
    environment or a configuration file outside the repository.
    """

    channel = Channel.EMAIL

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        *,
        starttls: bool = False,
        ssl_context: ssl.SSLContext | None = None,
        username: str | None = None,
        password: str | None = None,
        timeout_s: float = 10.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.host = host
        self.port = port
        self.sender = sender
        self.starttls = starttls
        self.ssl_context = ssl_context
        self.username = username
        self.password = password
        self.timeout_s = timeout_s
        self.clock = clock

    def send(self, notice: OutgoingNotice, at: datetime) -> DeliveryReceipt:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = notice.recipient
        message["Subject"] = notice.subject
        message.set_content(notice.body)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout_s) as client:
                if self.starttls:
                    client.starttls(context=self.ssl_context)
                if self.username:
                    client.login(self.username, self.password or "")
                refused = client.send_message(message)
        except (OSError, smtplib.SMTPException) as error:
            # The error text can contain the recipient's address, so only its
            # class and SMTP code are logged.
            logger.warning(
                "email notice for customer %s failed: %s %s",
                notice.customer_id,
                type(error).__name__,
                getattr(error, "smtp_code", ""),
            )
            return DeliveryReceipt(
                self.channel, at, None, f"{type(error).__name__}: {error}"
            )
        if refused:
            return DeliveryReceipt(
                self.channel, at, None, f"recipient refused: {refused}"
            )
        return DeliveryReceipt(self.channel, at, self.clock())
