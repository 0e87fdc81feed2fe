"""Tables of the device protocol adapters (MQTT, OCPP).

A fail-safe action is recorded whenever a device could not be reached or did
not confirm a command during an event, so that the record shows why it left
the event and what took over: the runner's release, or the device's own
fallback to its customer's schedule.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from coflex.adapters.store.models import Base, UtcDateTime


class FailSafeAction(Base):
    __tablename__ = "fail_safe_actions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id"), index=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id"))
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    # One of ``coflex.adapters.devices.base.ContactFault``.
    fault: Mapped[str] = mapped_column(String(48))
    # "released" (the runner took the device out of the event) or
    # "device_fallback" (the device runs its customer's own schedule).
    action: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(String(200))
