"""coflex as an OpenADR 2.0b VEN against openleadr's own VTN on 127.0.0.1.

The VTN is ``openleadr.OpenADRServer`` 0.5.36, started by each test; it plays
the utility. The fleet is the demo's, enrolled once per module.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from openadr_pki import Pki, make_pki
from openleadr import OpenADRServer
from openleadr.utils import certificate_fingerprint
from sqlalchemy import func, select, update

from coflex.adapters.grid.openadr2 import OPT_IN, OPT_OUT, OpenAdr2Ven, VenSecurity
from coflex.adapters.store.database import transaction
from coflex.adapters.notices.simulated import SimulatedNoticeChannels
from coflex.adapters.store.models import Event
from coflex.adapters.store.models_openadr import OpenAdr2Event, ProtocolRejection
from coflex.services import dispatch
from coflex.services.demo_grid import GridFleet, build_grid_fleet
from coflex.services.grid_requests import GridRequestService, SignalScale

# openleadr 0.5.36's VTN stores itself under a plain string key in its aiohttp
# app. aiohttp 3.14 warns about that, and the warning is the peer's, not coflex's.
pytestmark = pytest.mark.filterwarnings(
    "ignore::aiohttp.web_exceptions.NotAppKeyWarning"
)

VTN_ID = "UTILITY-VTN"
VEN_ID = "ven-coflex-1"
NOTICE = timedelta(hours=2, minutes=15)
SCALE = SignalScale(simple_level_kw=(5.0, 10.0, 15.0))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class UtilityVtn:
    """openleadr's VTN with a 1 s poll, recording opt responses and readings."""

    def __init__(self, pki: Pki | None = None) -> None:
        self.port = _free_port()
        self.pki = pki
        self.opts: dict[str, str] = {}
        self.readings: list[tuple[datetime, float]] = []
        security = {}
        if pki is not None:
            security = {
                "cert": str(pki.vtn.cert_file),
                "key": str(pki.vtn.key_file),
                "http_cert": str(pki.vtn.cert_file),
                "http_key": str(pki.vtn.key_file),
                "http_ca_file": str(pki.ca_file),
                "fingerprint_lookup": self._fingerprint,
            }
        self.server = OpenADRServer(
            vtn_id=VTN_ID,
            http_host="127.0.0.1",
            http_port=self.port,
            requested_poll_freq=timedelta(seconds=1),
            show_fingerprint=False,
            **security,
        )
        self.server.add_handler("on_create_party_registration", self._register)
        self.server.add_handler("on_register_report", self._register_report)

    @property
    def url(self) -> str:
        scheme = "https" if self.pki else "http"
        return f"{scheme}://127.0.0.1:{self.port}/OpenADR2/Simple/2.0b"

    def _fingerprint(self, ven_id: str) -> str | None:
        assert self.pki is not None
        return certificate_fingerprint(self.pki.ven.cert_file.read_text())

    def _register(self, registration: dict) -> tuple[str, str] | bool:
        if self.pki is not None:
            expected = self._fingerprint(VEN_ID)
            if registration.get("fingerprint") != expected:
                return False
        return VEN_ID, "registration-1"

    def _register_report(  # type: ignore[no-untyped-def]
        self,
        ven_id,
        resource_id,
        measurement,
        unit,
        scale,
        min_sampling_interval,
        max_sampling_interval,
    ):
        # openleadr picks this handler's calling convention by parameter names.
        return self._on_readings, min_sampling_interval

    def _on_readings(self, data: list[tuple[datetime, float]]) -> None:
        self.readings.extend(data)

    def send(
        self,
        event_id: str,
        start: datetime,
        duration: timedelta,
        value: float,
        signal: tuple[str, str] = ("SIMPLE", "level"),
    ) -> None:
        self.server.add_event(
            ven_id=VEN_ID,
            signal_name=signal[0],
            signal_type=signal[1],
            intervals=[
                {"dtstart": start, "duration": duration, "signal_payload": value}
            ],
            callback=self._opted,
            event_id=event_id,
            # Dropped by openleadr 0.5.36; coflex derives the notice instead.
            notification_period=timedelta(hours=4),
        )

    def _opted(self, ven_id: str, event_id: str, opt_type: str) -> None:
        self.opts[event_id] = opt_type


async def _until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while asyncio.get_running_loop().time() < deadline:
        if condition():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


@pytest.fixture(scope="module")
def grid_fleet(tmp_path_factory: pytest.TempPathFactory) -> GridFleet:
    folder = tmp_path_factory.mktemp("grid")
    fleet = build_grid_fleet(
        f"sqlite:///{folder / 'coflex.sqlite'}", 30, 3, folder / "documents"
    )
    yield fleet  # type: ignore[misc]
    fleet.engine.dispose()


@pytest.fixture(autouse=True)
def _close_earlier_events(request: pytest.FixtureRequest) -> None:
    """Close the events that earlier tests left open on the shared fleet.

    Every test maps its VTN event onto the fleet's one event day, and a
    program admits one open event per window, so each test starts with none.
    """
    if "grid_fleet" not in request.fixturenames:
        return
    fleet = request.getfixturevalue("grid_fleet")
    with transaction(fleet.factory) as session:
        session.execute(
            update(Event)
            .where(Event.status.not_in(("cancelled", "declined")))
            .values(status="cancelled")
        )


def _service(fleet: GridFleet, wall_start: datetime) -> GridRequestService:
    import numpy as np

    return GridRequestService(
        fleet.factory,
        fleet.program_id,
        fleet.terms,
        fleet.forecaster,
        SimulatedNoticeChannels(np.random.default_rng(5)),
        SCALE,
        to_fleet_time=fleet.clock_for(wall_start),
    )


async def _session(
    vtn: UtilityVtn,
    service: GridRequestService,
    body: Callable[[], Awaitable[None]],
    security: VenSecurity | None = None,
) -> None:
    await vtn.server.run()
    ven = OpenAdr2Ven(
        "coflex-aggregator",
        VTN_ID,
        vtn.url,
        service,
        security=security,
        report_sampling_s=1.0,
    )
    try:
        await ven.start()
        await body()
    finally:
        await ven.stop()
        await vtn.server.stop()


def _row(fleet: GridFleet, event_id: str) -> OpenAdr2Event:
    with fleet.factory() as session:
        row = session.scalar(
            select(OpenAdr2Event).where(OpenAdr2Event.vtn_event_id == event_id)
        )
    assert row is not None
    return row


def test_event_opted_in_and_reported(grid_fleet: GridFleet) -> None:
    """An event with notice opts in, plans the fleet, and load is reported."""
    wall_start = (datetime.now(UTC) + NOTICE).replace(microsecond=0)
    vtn = UtilityVtn()
    service = _service(grid_fleet, wall_start)

    async def body() -> None:
        vtn.send("evt-accept", wall_start, timedelta(hours=3), 2)
        await _until(lambda: "evt-accept" in vtn.opts, 20, "the opt answer")
        event_id = next(iter(service.prepared))
        prepared = service.prepared[event_id]
        grid_fleet.fleet.advance(prepared.request.start)
        runner = dispatch.EventRunner(
            grid_fleet.factory, prepared, grid_fleet.fleet, grid_fleet.fleet.copy()
        )
        await asyncio.to_thread(runner.run, [])
        # A reading sampled while the event ran may still be on its way.
        seen = len(vtn.readings)
        await _until(lambda: len(vtn.readings) > seen + 1, 20, "fresh readings")

    asyncio.run(_session(vtn, service, body))
    row = _row(grid_fleet, "evt-accept")
    assert vtn.opts["evt-accept"] == OPT_IN
    assert row.opt == OPT_IN
    assert row.target_kw == 10.0
    assert abs(row.notice_given_s - NOTICE.total_seconds()) < 30
    assert row.notice_received_s <= row.notice_given_s
    assert row.event_id is not None
    expected_w = service.read_load_kw() * 1000.0  # type: ignore[operator]
    assert vtn.readings[-1][1] == pytest.approx(expected_w)


def test_bad_events_opted_out(grid_fleet: GridFleet) -> None:
    """Past, overlong and unsupported events opt out and are recorded."""
    now = datetime.now(UTC).replace(microsecond=0)
    vtn = UtilityVtn()
    service = _service(grid_fleet, now + NOTICE)
    with grid_fleet.factory() as session:
        events_before = session.scalar(select(func.count(Event.id)))

    async def body() -> None:
        vtn.send("evt-past", now - timedelta(minutes=10), timedelta(hours=1), 1)
        vtn.send("evt-long", now + NOTICE, timedelta(hours=9), 1)
        vtn.send(
            "evt-raise",
            now + NOTICE,
            timedelta(hours=1),
            2.0,
            ("LOAD_DISPATCH", "delta"),
        )
        vtn.send("evt-level0", now + NOTICE, timedelta(hours=1), 0)
        await _until(lambda: len(vtn.opts) == 4, 20, "four opt answers")

    asyncio.run(_session(vtn, service, body))
    for event_id in ("evt-past", "evt-long", "evt-raise", "evt-level0"):
        assert vtn.opts[event_id] == OPT_OUT, event_id
        assert _row(grid_fleet, event_id).event_id is None, event_id
    assert "not after its receipt" in _row(grid_fleet, "evt-past").reason
    assert "at most 4.00 h" in _row(grid_fleet, "evt-long").reason
    with grid_fleet.factory() as session:
        assert session.scalar(select(func.count(Event.id))) == events_before


def test_repeated_message_answered_once(grid_fleet: GridFleet) -> None:
    """A replayed event gets the stored response and opens no second event."""
    from coflex.adapters.grid.openadr2 import VtnEvent

    now = datetime.now(UTC)
    service = _service(grid_fleet, now + NOTICE)
    event = VtnEvent(
        VTN_ID,
        "evt-replay",
        0,
        "far",
        now,
        now,
        now + NOTICE,
        3600.0,
        "SIMPLE",
        "level",
        1.0,
        "",
    )
    first = service.decide(event, VEN_ID)
    with grid_fleet.factory() as session:
        events_after_first = session.scalar(select(func.count(Event.id)))
    second = service.decide(event, VEN_ID)
    with grid_fleet.factory() as session:
        assert session.scalar(select(func.count(Event.id))) == events_after_first
        rows = session.scalar(
            select(func.count(OpenAdr2Event.id)).where(
                OpenAdr2Event.vtn_event_id == "evt-replay"
            )
        )
    assert second == first
    assert rows == 1


def test_event_over_tls_with_signatures(grid_fleet: GridFleet, tmp_path: Path) -> None:
    """With TLS and XML signatures on, the VEN registers and opts in."""
    pki = make_pki(tmp_path / "pki")
    wall_start = (datetime.now(UTC) + NOTICE).replace(microsecond=0)
    vtn = UtilityVtn(pki)
    service = _service(grid_fleet, wall_start)
    security = VenSecurity(
        str(pki.ven.cert_file),
        str(pki.ven.key_file),
        str(pki.ca_file),
        certificate_fingerprint(pki.vtn.cert_file.read_text()),
    )

    async def body() -> None:
        vtn.send("evt-signed", wall_start, timedelta(hours=3), 1)
        await _until(lambda: "evt-signed" in vtn.opts, 20, "the opt answer")

    asyncio.run(_session(vtn, service, body, security))
    assert vtn.opts["evt-signed"] == OPT_IN
    assert _row(grid_fleet, "evt-signed").opt == OPT_IN


def test_wrong_vtn_signature_ignored(grid_fleet: GridFleet, tmp_path: Path) -> None:
    """Messages signed by a certificate other than the VTN's are not processed."""
    pki = make_pki(tmp_path / "pki")
    stranger = make_pki(tmp_path / "stranger")
    wall_start = (datetime.now(UTC) + NOTICE).replace(microsecond=0)
    vtn = UtilityVtn(pki)
    service = _service(grid_fleet, wall_start)
    security = VenSecurity(
        str(pki.ven.cert_file),
        str(pki.ven.key_file),
        str(pki.ca_file),
        certificate_fingerprint(stranger.vtn.cert_file.read_text()),
    )

    async def body() -> None:
        vtn.send("evt-forged", wall_start, timedelta(hours=1), 1)
        await asyncio.sleep(4)

    asyncio.run(_session(vtn, service, body, security))
    assert "evt-forged" not in vtn.opts
    with grid_fleet.factory() as session:
        stored = session.scalar(
            select(func.count(OpenAdr2Event.id)).where(
                OpenAdr2Event.vtn_event_id == "evt-forged"
            )
        )
    assert stored == 0


def test_unreadable_event_recorded(grid_fleet: GridFleet) -> None:
    """An event without a signal is recorded as a rejection with code 454."""
    service = _service(grid_fleet, datetime.now(UTC) + NOTICE)
    from coflex.adapters.grid.openadr2 import parse_event
    from coflex.errors import RequestError

    now = datetime.now(UTC)
    broken = {
        "event_descriptor": {"event_id": "evt-broken", "created_date_time": now},
        "active_period": {"dtstart": now + NOTICE, "duration": timedelta(hours=1)},
        "event_signals": [],
    }
    with pytest.raises(RequestError) as raised:
        parse_event(VTN_ID, broken, now)
    service.reject(VTN_ID, "evt-broken", raised.value, now)
    with grid_fleet.factory() as session:
        row = session.scalar(
            select(ProtocolRejection).where(ProtocolRejection.peer == VTN_ID)
        )
    assert row is not None
    assert row.status_code == 454
