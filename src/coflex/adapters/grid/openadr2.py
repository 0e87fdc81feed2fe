"""coflex as an OpenADR 2.0b VEN (profile B, simple HTTP pull) on openleadr 0.5.36.

The VEN registers with a utility's VTN, polls it for events, hands each event
to a decision function as a plain :class:`VtnEvent` and sends back the opt
response that function returns. It also reports the fleet's load as
TELEMETRY_USAGE.

Two openleadr 0.5.36 behaviours shape this module:

- Its VTN drops ``x-eiNotification`` from events (the notification period
  passed to ``add_event`` never reaches the wire), so :class:`VtnEvent` keeps
  the VTN's ``createdDateTime`` and the time coflex received the event, and
  the notice actually given is computed from those.
- An exception in an ``on_event`` handler makes the client opt out of every
  event in the message, so the handler here catches parse errors itself,
  records them, and opts out of that event only.

References
----------
OpenADR Alliance, "OpenADR 2.0b Profile Specification", rev. 1.1: EiEvent,
EiReport and the simple HTTP pull model.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from openleadr import OpenADRClient, enums

from coflex.errors import RequestError

logger = logging.getLogger(__name__)

OPT_IN = "optIn"
OPT_OUT = "optOut"
REPORT_RESOURCE_ID = "coflex-fleet"


@dataclass(frozen=True)
class VtnEvent:
    """An oadrEvent reduced to the values coflex decides on.

    ``signal_value`` is the first signal's payload in its first interval:
    a SIMPLE level (0 to 3) or, for LOAD_DISPATCH, a load change [kW].
    """

    vtn_id: str
    vtn_event_id: str
    modification_number: int
    event_status: str
    created_at: datetime
    received_at: datetime
    start: datetime
    duration_s: float
    signal_name: str
    signal_type: str
    signal_value: float | None
    market_context: str

    @property
    def end(self) -> datetime:
        return self.start + timedelta(seconds=self.duration_s)

    @property
    def notice_given_s(self) -> float:
        """Time from the VTN's creation of the event to its start [s]."""
        return (self.start - self.created_at).total_seconds()

    @property
    def notice_received_s(self) -> float:
        """Time from coflex's receipt of the event to its start [s]."""
        return (self.start - self.received_at).total_seconds()


def _aware(value: object, field: str) -> datetime:
    if not isinstance(value, datetime):
        raise RequestError(
            f"OpenADR event {field} {value!r} is not a date-time: the VTN must "
            "send an xcal date-time",
            value=value,
            field=field,
        )
    if value.tzinfo is None:
        raise RequestError(
            f"OpenADR event {field} {value.isoformat()} has no timezone: the VTN "
            "must send UTC date-times ending in Z",
            value=value,
            field=field,
        )
    return value.astimezone(UTC)


def parse_event(
    vtn_id: str, event: Mapping[str, Any], received_at: datetime
) -> VtnEvent:
    """Read an openleadr event dict into a :class:`VtnEvent`.

    Raises
    ------
    RequestError
        If a time is missing or naive, the duration is missing, or the event
        carries no signal.
    """
    descriptor = event.get("event_descriptor") or {}
    period = event.get("active_period") or {}
    signals = event.get("event_signals") or []
    if isinstance(signals, Mapping):
        signals = signals.get("event_signals") or []
    if not signals:
        raise RequestError(
            f"OpenADR event {descriptor.get('event_id')!r} has no signal: "
            "the VTN must send at least one eiEventSignal",
            field="event_signals",
        )
    duration = period.get("duration")
    if not isinstance(duration, timedelta):
        raise RequestError(
            f"OpenADR event duration {duration!r} is not an xcal duration",
            value=duration,
            field="duration",
        )
    signal = signals[0]
    intervals = signal.get("intervals") or []
    payload = intervals[0].get("signal_payload") if intervals else None
    return VtnEvent(
        vtn_id=vtn_id,
        vtn_event_id=str(descriptor.get("event_id")),
        modification_number=int(descriptor.get("modification_number", 0)),
        event_status=str(descriptor.get("event_status", "far")),
        created_at=_aware(descriptor.get("created_date_time"), "createdDateTime"),
        received_at=received_at,
        start=_aware(period.get("dtstart"), "dtstart"),
        duration_s=duration.total_seconds(),
        signal_name=str(signal.get("signal_name")),
        signal_type=str(signal.get("signal_type")),
        signal_value=float(payload) if payload is not None else None,
        market_context=str(descriptor.get("market_context", "")),
    )


@dataclass(frozen=True)
class VenSecurity:
    """TLS and XML-signature material of the VEN.

    Parameters
    ----------
    cert_file, key_file
        The VEN's certificate and key: the TLS client certificate and the
        key that signs outgoing messages.
    ca_file
        The authority that signed the VTN's TLS certificate.
    vtn_fingerprint
        Fingerprint of the VTN's signing certificate (openleadr format);
        messages whose signature does not match are dropped.
    """

    cert_file: str
    key_file: str
    ca_file: str
    vtn_fingerprint: str


class EventHandler(Protocol):
    """What the VEN needs from coflex: opt decisions, rejections and load readings."""

    def decide(self, event: VtnEvent, ven_id: str) -> str:
        """Store the event's outcome and return ``"optIn"`` or ``"optOut"``."""
        ...

    def reject(
        self, vtn_id: str, vtn_event_id: str, error: RequestError, at: datetime
    ) -> None:
        """Record an event that could not be read."""
        ...

    def read_load_kw(self) -> float | None:
        """Return the fleet's present load [kW], or None without a reading."""
        ...


class OpenAdr2Ven:
    """A running OpenADR 2.0b VEN that turns VTN events into coflex decisions.

    Parameters
    ----------
    ven_name
        The VEN name registered with the VTN.
    vtn_id
        The VTN ID that the utility gave at enrolment; it names the requester
        of every flexibility request from this VTN.
    vtn_url
        The VTN's base URL, ending in ``/OpenADR2/Simple/2.0b``.
    handler
        Decides each new or modified event (called in a worker thread, so
        that database work does not stall the poll loop) and reads the load.
    security
        TLS and signature material; None only for a VTN on plain HTTP.
    report_sampling_s
        Seconds between TELEMETRY_USAGE readings [s].
    """

    def __init__(
        self,
        ven_name: str,
        vtn_id: str,
        vtn_url: str,
        handler: EventHandler,
        *,
        security: VenSecurity | None = None,
        report_sampling_s: float = 10.0,
    ) -> None:
        self.handler = handler
        self.vtn_id = vtn_id
        tls: dict[str, Any] = {"disable_signature": True}
        if security is not None:
            tls = {
                "cert": security.cert_file,
                "key": security.key_file,
                "ca_file": security.ca_file,
                "vtn_fingerprint": security.vtn_fingerprint,
            }
        self.client = OpenADRClient(
            ven_name=ven_name, vtn_url=vtn_url, show_fingerprint=False, **tls
        )
        self.client.add_handler("on_event", self._on_event)
        self.client.add_handler("on_update_event", self._on_event)
        self.client.add_report(
            callback=self._read_load,
            resource_id=REPORT_RESOURCE_ID,
            measurement=enums.MEASUREMENTS.POWER_REAL,
            unit="W",
            sampling_rate=timedelta(seconds=report_sampling_s),
        )

    @property
    def ven_id(self) -> str | None:
        """The VEN ID that the VTN assigned at registration."""
        return self.client.ven_id

    async def start(self) -> None:
        """Register with the VTN, register the report and start polling."""
        await self.client.run()
        logger.info("OpenADR 2.0b VEN registered as %s", self.client.ven_id)

    async def stop(self) -> None:
        await self.client.stop()

    async def _on_event(self, event: dict[str, Any]) -> str:
        received_at = datetime.now(UTC)
        vtn_id = self.vtn_id
        try:
            parsed = parse_event(vtn_id, event, received_at)
        except RequestError as error:
            logger.warning("OpenADR event rejected, opting out: %s", error.message)
            event_id = str((event.get("event_descriptor") or {}).get("event_id"))
            await asyncio.to_thread(
                self.handler.reject, vtn_id, event_id, error, received_at
            )
            return OPT_OUT
        ven_id = self.client.ven_id or ""
        return await asyncio.to_thread(self.handler.decide, parsed, ven_id)

    def _read_load(self) -> list[tuple[datetime, float]]:
        load_kw = self.handler.read_load_kw()
        if load_kw is None:
            return []
        return [(datetime.now(UTC), load_kw * 1000.0)]
