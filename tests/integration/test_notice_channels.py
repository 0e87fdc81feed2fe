"""Notice channels against real local servers: SMTP (aiosmtpd) and an HTTP SMS API."""

from __future__ import annotations

import json
import socket
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from aiosmtpd.controller import Controller

from coflex.adapters.notices.fallback import deliver_with_fallback
from coflex.adapters.notices.sms import JsonHttpProvider, SmsChannel
from coflex.adapters.notices.smtp import SmtpChannel
from coflex.domain.operations.notice import Channel

AT = datetime(2026, 7, 21, 17, 0, tzinfo=UTC)


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        self.messages.append((envelope.mail_from, envelope.rcpt_tos, envelope.content))
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def smtp_server():  # type: ignore[no-untyped-def]
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller, mailbox
    controller.stop()


class SmsApi(BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802 - the http.server hook name
        length = int(self.headers["Content-Length"])
        payload = json.loads(self.rfile.read(length))
        if self.headers.get("Authorization") != "Bearer test-token":
            self.send_response(401)
            self.end_headers()
            return
        SmsApi.received.append(payload)
        body = json.dumps({"id": f"m{len(SmsApi.received)}"}).encode()
        self.send_response(201)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def sms_server():  # type: ignore[no-untyped-def]
    SmsApi.received = []
    server = HTTPServer(("127.0.0.1", 0), SmsApi)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/messages"
    server.shutdown()
    server.server_close()


def test_email_delivered_through_smtp(smtp_server) -> None:  # type: ignore[no-untyped-def]
    controller, mailbox = smtp_server
    channel = SmtpChannel("127.0.0.1", controller.port, "events@coflex.example")
    receipts = deliver_with_fallback(
        {Channel.EMAIL: "mary@example.org"},
        Channel.EMAIL,
        {Channel.EMAIL: channel},
        "Upcoming energy event",
        "We plan to use your devices.",
        7,
        AT,
    )
    assert len(receipts) == 1
    assert receipts[0].delivered
    assert mailbox.messages[0][1] == ["mary@example.org"]
    assert b"We plan to use your devices." in mailbox.messages[0][2]


def test_sms_through_provider(sms_server) -> None:  # type: ignore[no-untyped-def]
    channel = SmsChannel(JsonHttpProvider(sms_server, "test-token"))
    receipt = channel.send(
        __import__(
            "coflex.adapters.notices.base", fromlist=["OutgoingNotice"]
        ).OutgoingNotice(7, "+13365550100", "Event", "Starts 15:00"),
        AT,
    )
    assert receipt.delivered
    assert SmsApi.received == [{"to": "+13365550100", "body": "Event: Starts 15:00"}]


def test_sms_rejected_token_fails(sms_server) -> None:  # type: ignore[no-untyped-def]
    channel = SmsChannel(JsonHttpProvider(sms_server, "wrong"))
    from coflex.adapters.notices.base import OutgoingNotice

    receipt = channel.send(OutgoingNotice(7, "+1", "Event", "x"), AT)
    assert not receipt.delivered
    assert "401" in (receipt.error or "")


def test_failed_email_falls_back_to_sms(sms_server) -> None:  # type: ignore[no-untyped-def]
    dead = SmtpChannel("127.0.0.1", free_port(), "events@coflex.example", timeout_s=2)
    sms = SmsChannel(JsonHttpProvider(sms_server, "test-token"))
    receipts = deliver_with_fallback(
        {Channel.EMAIL: "mary@example.org", Channel.SMS: "+13365550100"},
        Channel.EMAIL,
        {Channel.EMAIL: dead, Channel.SMS: sms},
        "Upcoming energy event",
        "Body",
        7,
        AT,
    )
    assert [r.channel for r in receipts] == [Channel.EMAIL, Channel.SMS]
    assert not receipts[0].delivered
    assert receipts[0].error
    assert receipts[1].delivered


def test_all_channels_failing_reported(smtp_server) -> None:  # type: ignore[no-untyped-def]
    dead = SmtpChannel("127.0.0.1", free_port(), "events@coflex.example", timeout_s=2)
    receipts = deliver_with_fallback(
        {Channel.EMAIL: "mary@example.org"},
        Channel.EMAIL,
        {Channel.EMAIL: dead},
        "s",
        "b",
        7,
        AT,
    )
    assert len(receipts) == 1
    assert not receipts[0].delivered
