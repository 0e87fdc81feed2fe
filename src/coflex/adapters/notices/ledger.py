"""Idempotent notice delivery: a channel that never delivers one notice twice.

The notice outbox delivers at least once: a runner stopped between handing a
notice to its channel and storing the receipt hands it over again on restart.
Providers make that safe with an idempotency key, and this adapter does the
same for the simulated channels: it keeps a ledger of the keys it has
delivered (a JSON Lines file, synced to disk before a receipt is returned) and
returns the stored receipt for a key it has seen.
"""

from __future__ import annotations

import json
import logging
import os
from datetime import datetime
from pathlib import Path
from typing import Protocol

from coflex.adapters.notices.simulated import DeliveryReceipt
from coflex.domain.operations.notice import Channel

logger = logging.getLogger(__name__)


class NoticeSender(Protocol):
    def send(
        self, channels: list[Channel], sent_at: datetime
    ) -> list[DeliveryReceipt]: ...


class IdempotentChannels:
    """Deliver each idempotency key once through ``channels``.

    Parameters
    ----------
    channels
        The channels that really deliver.
    ledger_path
        The ledger file; ``None`` keeps the ledger in memory only, which
        protects against repeats within one process but not across restarts.
    """

    def __init__(self, channels: NoticeSender, ledger_path: Path | None = None) -> None:
        self.channels = channels
        self.ledger_path = ledger_path
        self.repeats = 0
        self._receipts: dict[str, DeliveryReceipt] = {}
        if ledger_path is not None and ledger_path.exists():
            for entry in read_ledger(ledger_path):
                self._receipts[entry["key"]] = _receipt(entry)

    def deliver(self, key: str, channel: Channel, sent_at: datetime) -> DeliveryReceipt:
        """Deliver one notice, or return the receipt of its earlier delivery."""
        known = self._receipts.get(key)
        if known is not None:
            self.repeats += 1
            logger.info("notice %s was delivered before; not sent again", key)
            return known
        receipt = self.channels.send([channel], sent_at)[0]
        if self.ledger_path is not None:
            self._append(key, receipt)
        self._receipts[key] = receipt
        return receipt

    def _append(self, key: str, receipt: DeliveryReceipt) -> None:
        assert self.ledger_path is not None
        entry = {
            "key": key,
            "channel": receipt.channel.value,
            "sent_at": receipt.sent_at.isoformat(),
            "delivered_at": receipt.delivered_at.isoformat()
            if receipt.delivered_at
            else None,
        }
        with self.ledger_path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry) + "\n")
            handle.flush()
            os.fsync(handle.fileno())


def read_ledger(path: Path) -> list[dict[str, str | None]]:
    """Return the ledger's entries in delivery order.

    A last line cut short by a crash during the write is skipped: its notice
    was not confirmed, so the outbox delivers it again.
    """
    entries = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            entries.append(json.loads(line))
        except json.JSONDecodeError:
            logger.warning("ledger %s: skipped an incomplete line", path)
    return entries


def _receipt(entry: dict[str, str | None]) -> DeliveryReceipt:
    delivered = entry["delivered_at"]
    return DeliveryReceipt(
        Channel(entry["channel"]),
        datetime.fromisoformat(str(entry["sent_at"])),
        datetime.fromisoformat(delivered) if delivered else None,
    )
