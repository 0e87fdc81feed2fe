"""A notice channel that delivers in simulated time, for the demo fleet.

Real channels (SMTP, an SMS provider, an app push service, the thermostat
display) return a delivery receipt some time after sending; this adapter draws
that time per notice so that late and failed deliveries happen as they do in
production, and the runner must handle them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from coflex.domain.operations.notice import EXPECTED_LATENCY_S, Channel

# Share of notices whose delivery is delayed well past the usual latency
# (greylisting and retries for email, carrier queues for SMS), and the delay
# range [s]. NOTE: planning estimates for the simulation, not provider data.
_DELAYED_SHARE: dict[Channel, float] = {
    Channel.EMAIL: 0.05,
    Channel.SMS: 0.01,
    Channel.APP: 0.02,
    Channel.DEVICE_DISPLAY: 0.02,
}
_DELAY_RANGE_S = (15 * 60, 90 * 60)


@dataclass(frozen=True)
class DeliveryReceipt:
    channel: Channel
    sent_at: datetime
    delivered_at: datetime | None

    @property
    def delivered(self) -> bool:
        return self.delivered_at is not None


class SimulatedNoticeChannels:
    """Delivery receipts for a batch of notices, drawn from a seeded generator."""

    def __init__(self, rng: np.random.Generator) -> None:
        self._rng = rng

    def send(self, channels: list[Channel], sent_at: datetime) -> list[DeliveryReceipt]:
        count = len(channels)
        spread = self._rng.lognormal(mean=0.0, sigma=0.4, size=count)
        delayed = self._rng.random(count)
        extra = self._rng.uniform(*_DELAY_RANGE_S, size=count)
        receipts = []
        for index, channel in enumerate(channels):
            latency = EXPECTED_LATENCY_S[channel] * 0.8 * spread[index]
            if delayed[index] < _DELAYED_SHARE[channel]:
                latency += extra[index]
            delivered = sent_at + timedelta(seconds=float(latency))
            receipts.append(DeliveryReceipt(channel, sent_at, delivered))
        return receipts
