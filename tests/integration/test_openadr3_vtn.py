"""The coflex OpenADR 3.1 VTN against two independent clients from PyPI.

python-oa3-client 0.5.0 (Python 3.11, httpx, form-body client credentials)
and ElaadNL openadr3-client 2.4.2 (Python 3.12, requests, HTTP Basic client
credentials) each run in a virtual environment of their own against the VTN
served by uvicorn over TLS on 127.0.0.1, with a CA made for the run.
"""

from __future__ import annotations

import base64
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import numpy as np
import pytest
import uvicorn
from openadr3_peers import ELAAD, OA3, environment, interpreter, run
from private_ca import Authority, make_authority
from sqlalchemy import func, select

from coflex.adapters.grid.openadr2 import OPT_IN, VtnEvent
from coflex.adapters.notices.simulated import SimulatedNoticeChannels
from coflex.adapters.store.models import Participation
from coflex.adapters.store.models_openadr import Oa3Delivery, ProtocolRejection
from coflex.adapters.store.models_web import PendingOverride
from coflex.entrypoints.openadr3.app import create_vtn_app
from coflex.entrypoints.openadr3.webhooks import CallbackPolicy
from coflex.services import openadr3_vtn as vtn
from coflex.services.demo_grid import GridFleet, build_grid_fleet
from coflex.services.grid_requests import GridRequestService, SignalScale

NOTICE = timedelta(hours=2, minutes=15)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Server(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # run in a thread
        pass


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """A demo fleet with one planned event, served by the VTN over TLS."""
    folder = tmp_path_factory.mktemp("vtn")
    fleet = build_grid_fleet(
        f"sqlite:///{folder / 'coflex.sqlite'}", 30, 4, folder / "documents"
    )
    event_id = _planned_event(fleet)
    authority = make_authority(folder / "ca")
    port = _free_port()
    app = create_vtn_app(fleet.factory, CallbackPolicy(allow_loopback=True))
    server = Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            ssl_certfile=str(authority.cert_file),
            ssl_keyfile=str(authority.key_file),
            log_level="warning",
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    yield {
        "fleet": fleet,
        "event_id": event_id,
        "ca": authority,
        "tls": ssl.create_default_context(cafile=str(authority.ca_file)),
        "base": f"https://127.0.0.1:{port}",
    }
    server.should_exit = True
    thread.join(timeout=10)
    fleet.engine.dispose()


def _planned_event(fleet: GridFleet) -> int:
    wall_start = (datetime.now(UTC) + NOTICE).replace(microsecond=0)
    service = GridRequestService(
        fleet.factory,
        fleet.program_id,
        fleet.terms,
        fleet.forecaster,
        SimulatedNoticeChannels(np.random.default_rng(2)),
        SignalScale((5.0, 10.0, 15.0)),
        to_fleet_time=fleet.clock_for(wall_start),
    )
    now = datetime.now(UTC)
    event = VtnEvent(
        "UTILITY",
        "evt-1",
        0,
        "far",
        now,
        now,
        wall_start,
        10800.0,
        "SIMPLE",
        "level",
        2.0,
        "",
    )
    assert service.decide(event, "ven-1") == OPT_IN
    return next(iter(service.prepared))


def _sites(fleet: GridFleet, event_id: int) -> list[int]:
    with fleet.factory() as session:
        return sorted(
            session.scalars(
                select(Participation.site_id)
                .where(Participation.event_id == event_id)
                .distinct()
            )
        )[:2]


def _token(base: str, ca: Authority, client_id: str, secret: str) -> str:
    reply = httpx.post(
        f"{base}/auth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": secret,
        },
        verify=ssl.create_default_context(cafile=str(ca.ca_file)),
    )
    assert reply.status_code == 200, reply.text
    return str(reply.json()["access_token"])


def _program(world: dict) -> tuple[str, str]:
    """Create the business-logic client and a program; return its token and id."""
    bl_id, bl_secret = vtn.add_client(world["fleet"].factory, "bl")
    token = _token(world["base"], world["ca"], bl_id, bl_secret)
    reply = httpx.post(
        f"{world['base']}/programs",
        json={"programName": f"summer-peak-{bl_id}"},
        headers={"Authorization": f"Bearer {token}"},
        verify=world["tls"],
    )
    assert reply.status_code == 201, reply.text
    return token, reply.json()["id"]


def test_two_clients_same_event(world: dict) -> None:
    """Both clients list the program and event alike; their opt-outs are overrides."""
    peers = [OA3, ELAAD]
    missing = [peer.python for peer in peers if interpreter(peer) is None]
    if missing:
        pytest.skip(f"interpreters not installed: {missing}")
    fleet, ca = world["fleet"], world["ca"].ca_file
    sites = _sites(fleet, world["event_id"])
    _, program_id = _program(world)
    runs = []
    for peer, site in zip(peers, sites, strict=True):
        client_id, secret = vtn.add_client(fleet.factory, "ven", site_id=site)
        python = environment(peer)
        args = [world["base"], client_id, secret, f"ven-{peer.name}"]
        tail = [str(ca)] if peer is ELAAD else []
        run(peer, python, [*args, "register", *tail], ca)
        runs.append((peer, python, args, tail))
    vtn.publish_event(fleet.factory, world["event_id"], program_id)

    seen = [
        run(peer, python, [*args, "read", *tail], ca)
        for peer, python, args, tail in runs
    ]
    oa3, elaad = seen
    assert len(oa3["events"]) == 1
    assert len(elaad["events"]) == 1
    assert datetime.fromisoformat(oa3["events"][0]["start"]) == datetime.fromisoformat(
        elaad["events"][0]["start"]
    )
    assert oa3["events"][0]["start"].endswith("Z")
    assert oa3["events"][0]["duration"] == "PT3H0M0S"
    assert elaad["events"][0]["duration"] == 10800.0
    assert oa3["events"][0]["payloads"] == [{"type": "SIMPLE", "values": [1]}]
    assert elaad["events"][0]["payloads"] == [{"type": "SIMPLE", "values": [1]}]
    assert oa3["report_status"] == 201
    assert oa3["vens_seen"] == ["ven-python-oa3-client"]
    assert elaad["vens_seen"] == ["ven-openadr3-client"]
    with fleet.factory() as session:
        overridden = sorted(
            session.scalars(
                select(PendingOverride.site_id).where(
                    PendingOverride.event_id == world["event_id"],
                    PendingOverride.channel == "openadr3",
                )
            )
        )
    assert overridden == sites


def _basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def test_token_basic_and_form(world: dict) -> None:
    """The token endpoint takes client credentials in Basic and in the body."""
    fleet, base, ca = world["fleet"], world["base"], world["tls"]
    client_id, secret = vtn.add_client(fleet.factory, "ven")
    discovered = httpx.get(f"{base}/auth/server", verify=ca).json()["tokenURL"]
    basic = httpx.post(
        discovered,
        data={"grant_type": "client_credentials"},
        headers={"Authorization": _basic(client_id, secret)},
        verify=ca,
    )
    form = httpx.post(
        discovered,
        data={
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": secret,
        },
        verify=ca,
    )
    wrong = httpx.post(
        discovered,
        data={"grant_type": "client_credentials"},
        headers={"Authorization": _basic(client_id, "wrong")},
        verify=ca,
    )
    assert discovered == f"{base}/auth/token"
    assert basic.status_code == 200
    assert form.status_code == 200
    assert "write_events" not in basic.json()["scope"]
    assert wrong.status_code == 401


def test_fail_closed(world: dict) -> None:
    """Unauthenticated, out-of-scope and invalid requests get errors and records."""
    fleet, base, ca = world["fleet"], world["base"], world["tls"]
    client_id, secret = vtn.add_client(fleet.factory, "ven")
    token = _token(base, world["ca"], client_id, secret)
    auth = {"Authorization": f"Bearer {token}"}
    _, program_id = _program(world)
    event = {
        "programID": program_id,
        "intervals": [{"id": 0, "payloads": [{"type": "SIMPLE", "values": [1]}]}],
    }
    with fleet.factory() as session:
        before = session.scalar(select(func.count(ProtocolRejection.id)))
    cases = {
        "no token": httpx.get(f"{base}/events", verify=ca),
        "forged token": httpx.get(
            f"{base}/events", headers={"Authorization": "Bearer forged"}, verify=ca
        ),
        "VEN writes event": httpx.post(
            f"{base}/events", json=event, headers=auth, verify=ca
        ),
        "not JSON": httpx.post(
            f"{base}/vens", content=b"<ven/>", headers=auth, verify=ca
        ),
        "no venName": httpx.post(
            f"{base}/vens", json={"x": 1}, headers=auth, verify=ca
        ),
        "other's VEN": httpx.post(
            f"{base}/resources",
            json={"resourceName": "r", "venID": "not-mine"},
            headers=auth,
            verify=ca,
        ),
    }
    expected = {
        "no token": 401,
        "forged token": 401,
        "VEN writes event": 403,
        "not JSON": 400,
        "no venName": 400,
        "other's VEN": 404,
    }
    for name, status in expected.items():
        assert cases[name].status_code == status, name
        assert cases[name].json()["status"] == status, name
    with fleet.factory() as session:
        after = session.scalar(select(func.count(ProtocolRejection.id)))
    assert after - before == len(cases)


def test_impossible_times_rejected(world: dict) -> None:
    """Date-only starts and signed durations are rejected with HTTP 400."""
    base, ca = world["base"], world["tls"]
    token, program_id = _program(world)
    auth = {"Authorization": f"Bearer {token}"}
    for period in (
        {"start": "0001-01-01", "duration": "PT0S"},
        {"start": "2026-07-01T15:00:00", "duration": "PT1H"},
        {"start": "2026-07-01T15:00:00Z", "duration": "-PT1H"},
    ):
        reply = httpx.post(
            f"{base}/events",
            json={
                "programID": program_id,
                "intervalPeriod": period,
                "intervals": [
                    {"id": 0, "payloads": [{"type": "SIMPLE", "values": [1]}]}
                ],
            },
            headers=auth,
            verify=ca,
        )
        assert reply.status_code == 400, period


def test_duplicate_ven_name_conflict(world: dict) -> None:
    """A second VEN with a taken venName gets HTTP 409."""
    fleet, base, ca = world["fleet"], world["base"], world["tls"]
    replies = []
    for _ in range(2):
        client_id, secret = vtn.add_client(fleet.factory, "ven")
        token = _token(base, world["ca"], client_id, secret)
        replies.append(
            httpx.post(
                f"{base}/vens",
                json={"venName": "taken-name"},
                headers={"Authorization": f"Bearer {token}"},
                verify=ca,
            )
        )
    assert replies[0].status_code == 201
    assert replies[1].status_code == 409


class Receiver(BaseHTTPRequestHandler):
    """A webhook receiver that answers the echo challenge when told to."""

    echo = True
    received: list[bytes] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        value = parse_qs(urlsplit(self.path).query).get("echo", [""])[0]
        body = value.encode() if self.echo else b"ok"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length", 0))
        type(self).received.append(self.rfile.read(length))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def _receiver(echo: bool) -> tuple[ThreadingHTTPServer, str]:
    handler = type("R", (Receiver,), {"echo": echo, "received": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/notify"


def test_webhook_echo_and_notify(world: dict) -> None:
    """A subscription is stored only after the echo; then events are pushed."""
    fleet, base, ca = world["fleet"], world["base"], world["tls"]
    token, program_id = _program(world)
    auth = {"Authorization": f"Bearer {token}"}
    good, good_url = _receiver(echo=True)
    silent, silent_url = _receiver(echo=False)

    def subscribe(url: str) -> httpx.Response:
        return httpx.post(
            f"{base}/subscriptions",
            json={
                "clientName": "bl",
                "programID": program_id,
                "objectOperations": [
                    {"objects": ["EVENT"], "operations": ["POST"], "callbackUrl": url}
                ],
            },
            headers=auth,
            verify=ca,
        )

    accepted, refused = subscribe(good_url), subscribe(silent_url)
    httpx.post(
        f"{base}/events",
        json={
            "programID": program_id,
            "intervals": [{"id": 0, "payloads": [{"type": "SIMPLE", "values": [2]}]}],
        },
        headers=auth,
        verify=ca,
    )
    deadline = time.monotonic() + 10
    while not good.RequestHandlerClass.received and time.monotonic() < deadline:
        time.sleep(0.1)
    for server in (good, silent):
        server.shutdown()
        server.server_close()
    assert accepted.status_code == 201
    assert refused.status_code == 400
    assert len(good.RequestHandlerClass.received) == 1
    time.sleep(0.2)
    with fleet.factory() as session:
        delivered = session.scalar(
            select(func.count(Oa3Delivery.id)).where(
                Oa3Delivery.subscription_id == accepted.json()["id"],
                Oa3Delivery.status_code == 200,
            )
        )
    assert delivered == 1


def test_pki_files_exist(world: dict) -> None:
    """The run's CA signed the server certificate the clients verify."""
    assert Path(world["ca"].ca_file).exists()
