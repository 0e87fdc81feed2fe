"""EV chargers over OCPP 2.0.1: a charging station management endpoint.

:class:`ChargingStationEndpoint` is the CSMS side of OCPP 2.0.1 over
WebSocket, built on the ``ocpp`` package (2.1.0) and ``websockets``. It
curtails a charger with a ``SetChargingProfile`` whose limit never falls below
what still delivers the owner's energy need by departure, and shifts every
change of rate by a randomised delay (600 s ceiling by default; the owner can
change or remove it). :class:`OcppChargers` puts the endpoint behind the
device adapter seam.

Security follows OCPP 2.0.1 security profile 2: TLS, and HTTP Basic
authentication with the station id as user name. The endpoint fails closed:
an unknown station id, a wrong password, or a path that is not
``/ocpp/<station id>`` gets HTTP 401 before the WebSocket opens, so no OCPP
message from such a peer is ever read.

References
----------
Open Charge Alliance, *OCPP 2.0.1*, Part 2 (use cases K01 SetChargingProfile,
K15-K17 ISO 15118 charging needs; A00 security profiles) and Part 4 (OCPP-J:
CALLERROR with message id "-1" for a frame that cannot be read).
The Electric Vehicles (Smart Charge Points) Regulations 2021, regulation 11.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import logging
import random
import secrets
import ssl
import threading
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from typing import Any

import numpy as np
from ocpp.exceptions import OCPPError
from ocpp.messages import CallError, unpack
from ocpp.routing import on
from ocpp.v201 import ChargePoint, call, call_result, datatypes, enums
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response

from coflex.adapters.devices.base import (
    Acknowledgement,
    Action,
    Command,
    ContactFault,
    Telemetry,
)
from coflex.domain.operations.smart_charging import (
    DEFAULT_RANDOMISED_DELAY_MAX_S,
    ChargingNeed,
    lowest_allowed_limit_kw,
    randomised_delay_s,
)
from coflex.errors import DeviceGatewayError

logger = logging.getLogger(__name__)

SUBPROTOCOL = "ocpp2.0.1"
PROFILE_ID = 4201  # the one charging profile coflex keeps on each EVSE
STACK_LEVEL = 1
RESPONSE_TIMEOUT_S = 10.0


def _hash(password: str, salt: bytes) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1)


@dataclass
class StationAccount:
    """A charging station coflex may talk to, with its owner's settings.

    Attributes
    ----------
    station_id
        The station's OCPP identity, also its HTTP Basic user name.
    device_id
        The coflex device the station is.
    max_power_kw
        Highest charging power of the station and car [kW].
    randomised_delay_max_s
        The owner's ceiling for the randomised delay [s]; 0 removes it.
    need
        The owner's energy need and departure; the EV's own charging needs
        (ISO 15118, ``NotifyEVChargingNeeds``) replace it when they arrive.
    """

    station_id: str
    device_id: int
    max_power_kw: float
    salt: bytes
    password_hash: bytes
    randomised_delay_max_s: float = DEFAULT_RANDOMISED_DELAY_MAX_S
    need: ChargingNeed | None = None

    @classmethod
    def create(
        cls, station_id: str, password: str, device_id: int, max_power_kw: float
    ) -> StationAccount:
        """Register a station; only a salted scrypt hash of the password is kept."""
        salt = secrets.token_bytes(16)
        return cls(station_id, device_id, max_power_kw, salt, _hash(password, salt))

    def check(self, password: str) -> bool:
        return hmac.compare_digest(_hash(password, self.salt), self.password_hash)


@dataclass
class _Session:
    """State of one connected station."""

    link: _StationLink
    transaction_id: str | None = None
    last_seq_no: int = -1
    power_kw: float = float("nan")
    applied_limit_kw: float | None = None
    profile_at: datetime | None = None


class _StationLink(ChargePoint):  # type: ignore[misc]
    """The OCPP 2.0.1 conversation with one authenticated station."""

    def __init__(
        self,
        account: StationAccount,
        connection: Any,
        endpoint: ChargingStationEndpoint,
    ) -> None:
        super().__init__(account.station_id, connection, RESPONSE_TIMEOUT_S)
        self.account = account
        self.endpoint = endpoint

    async def route_message(self, raw_msg: str) -> None:
        try:
            unpack(raw_msg)
        except OCPPError as error:
            # The ocpp package only logs such a frame, but OCPP-J requires a CALLERROR.
            self.endpoint.invalid_frames[self.id] += 1
            logger.warning("station %s sent an unreadable frame: %s", self.id, error)
            reply = CallError("-1", "RpcFrameworkError", str(error.description), {})
            await self._send(reply.to_json())
            return
        await super().route_message(raw_msg)

    @on(enums.Action.boot_notification)
    def on_boot(self, charging_station: dict, reason: str, **_: Any) -> Any:
        return call_result.BootNotification(
            current_time=_now(),
            interval=300,
            status=enums.RegistrationStatusEnumType.accepted,
        )

    @on(enums.Action.heartbeat)
    def on_heartbeat(self, **_: Any) -> Any:
        return call_result.Heartbeat(current_time=_now())

    @on(enums.Action.status_notification)
    def on_status(self, **_: Any) -> Any:
        return call_result.StatusNotification()

    @on(enums.Action.transaction_event)
    def on_transaction_event(
        self,
        event_type: str,
        seq_no: int,
        transaction_info: dict,
        meter_value: list[dict] | None = None,
        **_: Any,
    ) -> Any:
        self.endpoint.take_transaction_event(
            self.id, event_type, seq_no, transaction_info, meter_value
        )
        return call_result.TransactionEvent()

    @on(enums.Action.meter_values)
    def on_meter_values(self, evse_id: int, meter_value: list[dict], **_: Any) -> Any:
        self.endpoint.take_power(self.id, meter_value)
        return call_result.MeterValues()

    @on(enums.Action.notify_ev_charging_needs)
    def on_charging_needs(self, charging_needs: dict, evse_id: int, **_: Any) -> Any:
        accepted = self.endpoint.take_charging_needs(self.id, charging_needs)
        status = (
            enums.NotifyEVChargingNeedsStatusEnumType.accepted
            if accepted
            else enums.NotifyEVChargingNeedsStatusEnumType.rejected
        )
        return call_result.NotifyEVChargingNeeds(status=status)


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _power_kw(meter_value: list[dict] | None) -> float | None:
    for reading in meter_value or []:
        for sample in reading.get("sampled_value", []):
            if sample.get("measurand") == "Power.Active.Import":
                return float(sample["value"]) / 1000.0
    return None


class ChargingStationEndpoint:
    """The CSMS: accepts authenticated stations and curtails them.

    Parameters
    ----------
    accounts
        The stations allowed to connect.
    ssl_context
        The server's TLS context; ``None`` only for tests of the refusal.
    rng
        Source of randomised delays; a fresh ``random.SystemRandom`` by default.
    """

    def __init__(
        self,
        accounts: list[StationAccount],
        ssl_context: ssl.SSLContext | None,
        *,
        rng: random.Random | None = None,
    ) -> None:
        self.accounts = {a.station_id: a for a in accounts}
        self.by_device = {a.device_id: a for a in accounts}
        self.ssl_context = ssl_context
        self.rng = rng or random.SystemRandom()
        self.sessions: dict[str, _Session] = {}
        self.refused: Counter[str] = Counter()
        self.invalid_frames: Counter[str] = Counter()
        self.replays: Counter[str] = Counter()
        self._server: Server | None = None

    async def start(self, host: str, port: int) -> None:
        self._server = await serve(
            self._serve,
            host,
            port,
            ssl=self.ssl_context,
            subprotocols=[SUBPROTOCOL],  # type: ignore[list-item]
            process_request=self._authenticate,
        )

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def _authenticate(
        self, connection: ServerConnection, request: Request
    ) -> Response | None:
        """Refuse with 401 unless the path names a known station and its password."""
        station_id = request.path.removeprefix("/ocpp/")
        account = self.accounts.get(station_id)
        user, password = _basic_credentials(request.headers.get("Authorization", ""))
        if account is None or user != station_id or not account.check(password):
            self.refused[station_id[:40]] += 1
            logger.warning(
                "refused a charging station connection for %r", station_id[:40]
            )
            return connection.respond(
                HTTPStatus.UNAUTHORIZED, "unknown station or wrong password\n"
            )
        return None

    async def _serve(self, connection: ServerConnection) -> None:
        account = self.accounts[connection.request.path.removeprefix("/ocpp/")]  # type: ignore[union-attr]
        link = _StationLink(account, connection, self)
        self.sessions[account.station_id] = _Session(link)
        logger.info("charging station %s connected", account.station_id)
        try:
            await link.start()
        except Exception as error:  # noqa: BLE001 - the link ends either way
            logger.warning(
                "charging station %s disconnected: %s", account.station_id, error
            )
        finally:
            if (
                self.sessions.get(account.station_id, None) is not None
                and self.sessions[account.station_id].link is link
            ):
                del self.sessions[account.station_id]

    # -- messages from stations ---------------------------------------------------

    def take_transaction_event(
        self,
        station_id: str,
        event_type: str,
        seq_no: int,
        info: dict,
        meter_value: list[dict] | None,
    ) -> None:
        session = self.sessions[station_id]
        if seq_no <= session.last_seq_no:
            # A repeated seqNo is a retry or a replay: it gets a response, not applied.
            self.replays[station_id] += 1
            logger.warning(
                "station %s repeated TransactionEvent seqNo %d", station_id, seq_no
            )
            return
        session.last_seq_no = seq_no
        session.transaction_id = (
            None if event_type == "Ended" else info["transaction_id"]
        )
        power = _power_kw(meter_value)
        if power is not None:
            session.power_kw = power

    def take_power(self, station_id: str, meter_value: list[dict]) -> None:
        power = _power_kw(meter_value)
        if power is not None:
            self.sessions[station_id].power_kw = power

    def take_charging_needs(self, station_id: str, needs: dict) -> bool:
        """Take the EV's energy need and departure time; reject them if incomplete."""
        account = self.accounts[station_id]
        ac = needs.get("ac_charging_parameters")
        departure = needs.get("departure_time")
        if not ac or not departure:
            return False
        account.need = ChargingNeed(
            energy_needed_kwh=ac["energy_amount"] / 1000.0,
            departure_at=datetime.fromisoformat(departure.replace("Z", "+00:00")),
            max_power_kw=account.max_power_kw,
        )
        return True

    # -- commands -----------------------------------------------------------------

    async def apply(
        self, command: Command, at: datetime, until: datetime | None
    ) -> Acknowledgement:
        """Send a curtailment or restore profile; return the station's response."""
        account = self.by_device.get(command.device_id)
        if account is None:
            return Acknowledgement(
                command.device_id,
                False,
                at,
                "unknown charger",
                ContactFault.UNKNOWN_DEVICE,
            )
        session = self.sessions.get(account.station_id)
        if session is None:
            return Acknowledgement(
                command.device_id,
                False,
                at,
                "station not connected",
                ContactFault.LOST_CONTACT,
            )
        delay_s = randomised_delay_s(account.randomised_delay_max_s, self.rng)
        if command.action is Action.CURTAIL:
            limit_kw, detail = self._curtailed_limit(
                account, command, at, delay_s, until
            )
        else:
            limit_kw, detail = account.max_power_kw, "restored"
        profile = _profile(session, at, delay_s, limit_kw, account.max_power_kw)
        try:
            answer = await session.link.call(
                call.SetChargingProfile(evse_id=1, charging_profile=profile),
                suppress=False,
            )
        except TimeoutError:
            return Acknowledgement(
                command.device_id,
                False,
                at,
                "no SetChargingProfile answer",
                ContactFault.NO_ACKNOWLEDGEMENT,
            )
        except OCPPError as error:
            return Acknowledgement(
                command.device_id,
                False,
                at,
                f"CALLERROR {error}",
                ContactFault.COMMAND_REJECTED,
            )
        except Exception as error:  # noqa: BLE001 - a closed link mid-call
            return Acknowledgement(
                command.device_id,
                False,
                at,
                f"link closed: {error}",
                ContactFault.LOST_CONTACT,
            )
        if answer.status != enums.ChargingProfileStatusEnumType.accepted:
            return Acknowledgement(
                command.device_id,
                False,
                at,
                f"station answered {answer.status}",
                ContactFault.COMMAND_REJECTED,
            )
        session.applied_limit_kw = limit_kw
        session.profile_at = at + timedelta(seconds=delay_s)
        return Acknowledgement(
            command.device_id, True, at, f"{detail}; randomised delay {delay_s:.0f} s"
        )

    def _curtailed_limit(
        self,
        account: StationAccount,
        command: Command,
        at: datetime,
        delay_s: float,
        until: datetime | None,
    ) -> tuple[float, str]:
        requested_kw = max(0.0, float(command.value or 0.0))
        if account.need is None:
            return requested_kw, f"limit {requested_kw:.2f} kW"
        start = at + timedelta(seconds=delay_s)
        end = None if until is None else until + timedelta(seconds=delay_s)
        floor_kw = lowest_allowed_limit_kw(account.need, start, end)
        if floor_kw <= requested_kw:
            return requested_kw, f"limit {requested_kw:.2f} kW"
        need = account.need
        return floor_kw, (
            f"limit {floor_kw:.2f} kW, raised from {requested_kw:.2f} kW to deliver "
            f"{need.energy_needed_kwh:.1f} kWh by {need.departure_at.isoformat()}"
        )


def _profile(
    session: _Session, at: datetime, delay_s: float, limit_kw: float, max_kw: float
) -> datatypes.ChargingProfileType:
    """Build the profile: the old limit until the delay ends, then the new one."""
    before_kw = (
        session.applied_limit_kw if session.applied_limit_kw is not None else max_kw
    )
    periods = [
        datatypes.ChargingSchedulePeriodType(
            start_period=0, limit=round(before_kw * 1000.0, 1)
        )
    ]
    if round(delay_s) > 0:
        periods.append(
            datatypes.ChargingSchedulePeriodType(
                start_period=int(round(delay_s)), limit=round(limit_kw * 1000.0, 1)
            )
        )
    else:
        periods = [
            datatypes.ChargingSchedulePeriodType(
                start_period=0, limit=round(limit_kw * 1000.0, 1)
            )
        ]
    purpose = (
        enums.ChargingProfilePurposeEnumType.tx_profile
        if session.transaction_id
        else enums.ChargingProfilePurposeEnumType.tx_default_profile
    )
    return datatypes.ChargingProfileType(
        id=PROFILE_ID,
        stack_level=STACK_LEVEL,
        charging_profile_purpose=purpose,
        charging_profile_kind=enums.ChargingProfileKindEnumType.absolute,
        transaction_id=session.transaction_id,
        charging_schedule=[
            datatypes.ChargingScheduleType(
                id=PROFILE_ID,
                start_schedule=at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
                charging_rate_unit=enums.ChargingRateUnitEnumType.watts,
                charging_schedule_period=periods,
            )
        ],
    )


def _basic_credentials(header: str) -> tuple[str, str]:
    """Return the user name and password of an HTTP Basic header, or empty strings."""
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return "", ""
    try:
        user, _, password = (
            base64.b64decode(encoded, validate=True).decode().partition(":")
        )
    except (binascii.Error, UnicodeDecodeError):
        return "", ""
    return user, password


class OcppChargers:
    """The device adapter seam over a :class:`ChargingStationEndpoint`.

    The endpoint runs on an asyncio loop in a thread of its own; ``send``
    and ``advance`` block the caller until the stations answer.

    Parameters
    ----------
    endpoint
        The CSMS with its station accounts.
    host, port
        Where the endpoint listens (a loopback address in tests).
    curtail_until
        End of the current event, used for the energy-need floor; ``None``
        assumes the curtailment lasts until departure (the safe side).
    """

    def __init__(
        self,
        endpoint: ChargingStationEndpoint,
        host: str,
        port: int,
        *,
        curtail_until: datetime | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.curtail_until = curtail_until
        self.device_ids = np.array(sorted(endpoint.by_device), dtype=np.int64)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="ocpp-csms", daemon=True
        )
        self._thread.start()
        try:
            self._run(endpoint.start(host, port))
        except OSError as error:
            self.close()
            raise DeviceGatewayError(
                f"cannot listen for charging stations on {host}:{port}: {error}"
            ) from error

    def _run(self, coroutine: Any, timeout_s: float = 60.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout_s)

    def close(self) -> None:
        if self._loop.is_running():
            self._run(self.endpoint.stop())
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        if not self._loop.is_running():
            self._loop.close()

    def send(self, commands: list[Command], at: datetime) -> list[Acknowledgement]:
        async def all_at_once() -> list[Acknowledgement]:
            return list(
                await asyncio.gather(
                    *(self.endpoint.apply(c, at, self.curtail_until) for c in commands)
                )
            )

        return self._run(all_at_once(), RESPONSE_TIMEOUT_S * 3)

    def advance(self, to: datetime) -> Telemetry:
        """Wait for the wall clock to reach ``to``; return the stations' last power."""
        delay = (to - datetime.now(UTC)).total_seconds()
        if delay > 0:
            threading.Event().wait(delay)
        n = len(self.device_ids)
        power = np.full(n, np.nan)
        need = np.full(n, np.nan)
        lost: dict[int, ContactFault] = {}
        for i, device_id in enumerate(self.device_ids):
            account = self.endpoint.by_device[int(device_id)]
            session = self.endpoint.sessions.get(account.station_id)
            if session is None:
                lost[int(device_id)] = ContactFault.LOST_CONTACT
                continue
            power[i] = session.power_kw
            if account.need is not None:
                need[i] = account.need.energy_needed_kwh
        empty = np.full(n, np.nan)
        return Telemetry(
            at=to,
            device_ids=self.device_ids,
            power_kw=power,
            indoor_temp_c=empty,
            battery_soc_fraction=empty.copy(),
            tank_temp_c=empty.copy(),
            ev_energy_needed_kwh=need,
            site_power_kw=np.zeros(0),
            site_ids=np.zeros(0, dtype=np.int64),
            lost_contact=lost,
        )
