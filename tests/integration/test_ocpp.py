"""The OCPP 2.0.1 endpoint against charging stations built on the ``ocpp`` package.

Each test starts the endpoint with TLS from a CA made for the run and connects
``ocpp.v201.ChargePoint`` clients over loopback, as real stations would, with
HTTP Basic credentials (OCPP 2.0.1 security profile 2).
"""

from __future__ import annotations

import asyncio
import base64
import json
import random
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from ocpp.routing import on
from ocpp.v201 import ChargePoint, call, call_result, enums
from private_ca import make_authority
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from coflex.adapters.devices.base import Action, Command, ContactFault
from coflex.adapters.devices.mosquitto import free_port
from coflex.adapters.devices.ocpp_csms import (
    SUBPROTOCOL,
    ChargingStationEndpoint,
    OcppChargers,
    StationAccount,
)
from coflex.domain.operations.smart_charging import ChargingNeed

PASSWORD = "correct horse battery staple"


class Station(ChargePoint):  # type: ignore[misc]
    """A charging station that records the profiles it is sent and accepts them."""

    def __init__(self, station_id: str, connection: ClientConnection) -> None:
        super().__init__(station_id, connection)
        self.profiles: list[dict[str, Any]] = []

    @on(enums.Action.set_charging_profile)
    def on_profile(self, evse_id: int, charging_profile: dict, **_: Any) -> Any:
        self.profiles.append(charging_profile)
        return call_result.SetChargingProfile(
            status=enums.ChargingProfileStatusEnumType.accepted
        )


@dataclass
class Rig:
    chargers: OcppChargers
    endpoint: ChargingStationEndpoint
    port: int
    client_tls: ssl.SSLContext
    loop: asyncio.AbstractEventLoop
    stations: dict[str, Station] = field(default_factory=dict)

    def run(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(30)

    def url(self, station_id: str) -> str:
        return f"wss://127.0.0.1:{self.port}/ocpp/{station_id}"

    def connect(self, station_id: str, password: str = PASSWORD) -> Station:
        async def opened() -> Station:
            token = base64.b64encode(f"{station_id}:{password}".encode()).decode()
            connection = await connect(
                self.url(station_id),
                ssl=self.client_tls,
                subprotocols=[SUBPROTOCOL],  # type: ignore[list-item]
                additional_headers={"Authorization": f"Basic {token}"},
            )
            station = Station(station_id, connection)
            asyncio.ensure_future(station.start())
            return station

        station = self.run(opened())
        self.stations[station_id] = station
        return station


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    authority = make_authority(tmp_path / "ca")
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(authority.cert_file, authority.key_file)
    client_tls = ssl.create_default_context(cafile=str(authority.ca_file))
    accounts = [
        StationAccount.create("CS-001", PASSWORD, device_id=11, max_power_kw=7.4),
        StationAccount.create("CS-002", PASSWORD, device_id=12, max_power_kw=7.4),
    ]
    endpoint = ChargingStationEndpoint(accounts, server_tls, rng=random.Random(3))
    port = free_port()
    chargers = OcppChargers(endpoint, "127.0.0.1", port)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    built = Rig(chargers, endpoint, port, client_tls, loop)
    try:
        yield built
    finally:
        for station in built.stations.values():
            built.run(station._connection.close())
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
        chargers.close()


def curtail(device_id: int, limit_kw: float) -> Command:
    return Command(device_id, "ev_charger", Action.CURTAIL, limit_kw, "test")


def limits_w(profile: dict[str, Any]) -> list[float]:
    periods = profile["charging_schedule"][0]["charging_schedule_period"]
    return [p["limit"] for p in periods]


def test_curtailment_sent_as_profile(rig: Rig) -> None:
    station = rig.connect("CS-001")
    now = datetime.now(UTC)
    [ack] = rig.chargers.send([curtail(11, 1.5)], now)
    assert ack.accepted
    [profile] = station.profiles
    assert limits_w(profile)[-1] == 1500.0
    assert profile["charging_schedule"][0]["charging_rate_unit"] == "W"


def test_departure_energy_raises_limit(rig: Rig) -> None:
    """The limit never falls below what delivers the owner's energy by departure."""
    station = rig.connect("CS-001")
    now = datetime.now(UTC)
    rig.endpoint.by_device[11].need = ChargingNeed(
        energy_needed_kwh=30.0,
        departure_at=now + timedelta(hours=5),
        max_power_kw=7.4,
    )
    rig.endpoint.by_device[11].randomised_delay_max_s = 0
    [ack] = rig.chargers.send([curtail(11, 0.0)], now)
    assert ack.accepted
    assert limits_w(station.profiles[0]) == [6000.0]
    assert "raised from 0.00 kW" in ack.detail


def test_ev_charging_needs_taken(rig: Rig) -> None:
    """OCPP 2.0.1 K15: the EV reports its energy amount and departure time."""
    station = rig.connect("CS-002")
    departure = datetime.now(UTC) + timedelta(hours=2)
    answer = rig.run(
        station.call(
            call.NotifyEVChargingNeeds(
                evse_id=1,
                charging_needs={
                    "requested_energy_transfer": "AC_three_phase",
                    "departure_time": departure.isoformat().replace("+00:00", "Z"),
                    "ac_charging_parameters": {
                        "energy_amount": 10000,
                        "ev_min_current": 6,
                        "ev_max_current": 32,
                        "ev_max_voltage": 400,
                    },
                },
            )
        )
    )
    assert answer.status == "Accepted"
    assert rig.endpoint.by_device[12].need.energy_needed_kwh == 10.0


def test_randomised_delay_within_600_s(rig: Rig) -> None:
    """SI 2021/1467 regulation 11: a random delay of up to 600 s by default."""
    station = rig.connect("CS-001")
    now = datetime.now(UTC)
    for _ in range(5):
        rig.chargers.send([curtail(11, 1.0)], now)
    starts = [
        p["charging_schedule"][0]["charging_schedule_period"][-1]["start_period"]
        for p in station.profiles
    ]
    assert all(0 < s <= 600 for s in starts)
    assert len(set(starts)) > 1


def test_owner_removes_randomised_delay(rig: Rig) -> None:
    station = rig.connect("CS-001")
    rig.endpoint.by_device[11].randomised_delay_max_s = 0
    rig.chargers.send([curtail(11, 1.0)], datetime.now(UTC))
    [period] = station.profiles[0]["charging_schedule"][0]["charging_schedule_period"]
    assert period["start_period"] == 0


def test_unknown_station_refused(rig: Rig) -> None:
    with pytest.raises(InvalidStatus) as refused:
        rig.connect("CS-999")
    assert refused.value.response.status_code == 401


def test_wrong_password_refused(rig: Rig) -> None:
    with pytest.raises(InvalidStatus) as refused:
        rig.connect("CS-001", password="guess")
    assert refused.value.response.status_code == 401
    assert rig.endpoint.sessions == {}


def test_plain_websocket_refused(rig: Rig) -> None:
    async def plain() -> None:
        await connect(f"ws://127.0.0.1:{rig.port}/ocpp/CS-001", open_timeout=3)

    with pytest.raises(Exception):  # noqa: B017 - the TLS listener drops it
        rig.run(plain())
    assert rig.endpoint.sessions == {}


def test_unreadable_frame_answered(rig: Rig) -> None:
    """OCPP-J: a frame that cannot be read gets a CALLERROR with message id -1."""
    token = base64.b64encode(f"CS-002:{PASSWORD}".encode()).decode()

    async def exchange() -> list[Any]:
        async with connect(
            rig.url("CS-002"),
            ssl=rig.client_tls,
            subprotocols=[SUBPROTOCOL],  # type: ignore[list-item]
            additional_headers={"Authorization": f"Basic {token}"},
        ) as connection:
            await connection.send("this is not JSON")
            return json.loads(await connection.recv())

    reply = rig.run(exchange())
    assert reply[:3] == [4, "-1", "RpcFrameworkError"]
    assert rig.endpoint.invalid_frames["CS-002"] == 1


def test_schema_invalid_call_rejected(rig: Rig) -> None:
    token = base64.b64encode(f"CS-002:{PASSWORD}".encode()).decode()

    async def exchange() -> list[Any]:
        async with connect(
            rig.url("CS-002"),
            ssl=rig.client_tls,
            subprotocols=[SUBPROTOCOL],  # type: ignore[list-item]
            additional_headers={"Authorization": f"Basic {token}"},
        ) as connection:
            await connection.send(json.dumps([2, "m1", "Heartbeat", {"x": 1}]))
            return json.loads(await connection.recv())

    reply = rig.run(exchange())
    assert reply[0] == 4
    assert reply[1] == "m1"


def test_replayed_transaction_event_ignored(rig: Rig) -> None:
    station = rig.connect("CS-001")
    event = call.TransactionEvent(
        event_type="Started",
        timestamp=datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        trigger_reason="CablePluggedIn",
        seq_no=1,
        transaction_info={"transaction_id": "tx-1"},
    )
    rig.run(station.call(event))
    rig.run(station.call(event))
    assert rig.endpoint.replays["CS-001"] == 1
    assert rig.endpoint.sessions["CS-001"].transaction_id == "tx-1"


def test_disconnected_station_lost_contact(rig: Rig) -> None:
    station = rig.connect("CS-001")
    rig.run(station._connection.close())
    del rig.stations["CS-001"]
    now = datetime.now(UTC)
    for _ in range(50):
        if "CS-001" not in rig.endpoint.sessions:
            break
        rig.run(asyncio.sleep(0.05))
    [ack] = rig.chargers.send([curtail(11, 1.0)], now)
    assert ack.fault is ContactFault.LOST_CONTACT
    telemetry = rig.chargers.advance(now)
    assert telemetry.lost_contact[11] is ContactFault.LOST_CONTACT
