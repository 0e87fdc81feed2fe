"""Browser tests: Playwright drives Debian's chromium against `coflex serve`.

A customer signs in during a running event, reads the event notice, presses
override and sees the device released; the operator then sees reserve devices
called to cover the gap. After a finished demo, a customer files a complaint
on a phone-sized screen, the operator acknowledges it and opens the
compliance dashboard and claims registry, and the regulator requests and
downloads a record bundle. Screenshots of the key pages are saved in the
test's temporary folder.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

playwright = pytest.importorskip("playwright.sync_api")

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
COFLEX = [sys.executable, "-m", "coflex.entrypoints.cli"]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is missing"),
]


def _wait_for(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _running_event(database: Path) -> int | None:
    if not database.exists():
        return None
    with sqlite3.connect(database) as connection:
        try:
            row = connection.execute(
                "SELECT id FROM events WHERE status = 'running'"
            ).fetchone()
        except sqlite3.OperationalError:
            return None
    return int(row[0]) if row else None


def _logins(path: Path) -> dict[str, tuple[str, str, str]]:
    logins = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            role, username, secret, *note = line.split("\t")
            logins[username] = (role, secret, note[0] if note else "")
    return logins


def _reachable(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=1) as reply:  # noqa: S310 - loopback
            return bool(reply.status == 200)
    except OSError:
        return False


@pytest.fixture
def live_site(
    tmp_path: Path,
) -> Iterator[tuple[str, int, dict[str, tuple[str, str, str]]]]:
    """A paced demo event and `coflex serve` on the same SQLite file."""
    database = tmp_path / "coflex.sqlite"
    url = f"sqlite:///{database}"
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    # 90 event seconds per wall second: the 3-hour event lasts two minutes.
    demo = subprocess.Popen(
        [
            *COFLEX,
            "demo",
            "--customers",
            "30",
            "--seed",
            "3",
            "--quiet",
            "--database",
            url,
            "--output",
            str(tmp_path / "out"),
            "--event-speed",
            "90",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    port = _free_port()
    server = None
    try:
        _wait_for(lambda: _running_event(database) is not None, 180, "the event")
        server = subprocess.Popen(
            [*COFLEX, "serve", "--database", url, "--port", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        base = f"http://127.0.0.1:{port}"
        _wait_for(lambda: _reachable(f"{base}/login"), 60, "the server")
        event_id = _running_event(database)
        assert event_id is not None
        yield base, event_id, _logins(tmp_path / "out" / "credentials.txt")
    finally:
        for process in (server, demo):
            if process is not None:
                process.terminate()
                process.wait(timeout=30)


def _sign_in(page, base: str, username: str, password: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{base}/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_customer_override_and_reserve(live_site, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    base, event_id, logins = live_site
    customer = next(
        u for u, (r, _, n) in logins.items() if r == "customer" and n == "in the event"
    )
    with playwright.sync_playwright() as driver:
        browser = driver.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        page = browser.new_page(viewport={"width": 390, "height": 844})
        _sign_in(page, base, customer, logins[customer][1])
        page.wait_for_url(f"{base}/portal")
        notices = page.locator(".notice-text").all_inner_texts()
        assert any("Override" in text for text in notices), notices
        assert any("15:00 EDT" in text for text in notices), notices
        assert page.locator(".device.controlled").count() >= 1
        page.screenshot(
            path=str(tmp_path / "1-portal-event-notice.png"), full_page=True
        )

        page.get_by_role("button", name="Override: stop this event at my home").click()
        status = page.locator("#override-status")
        playwright.expect(status).to_contain_text(
            "Done. Your devices were released", timeout=30_000
        )
        assert page.locator(".device.controlled").count() == 0
        assert "Released: you overrode" in page.locator(".devices").inner_text()
        page.screenshot(path=str(tmp_path / "2-override-honoured.png"), full_page=True)

        operator = browser.new_page()
        _sign_in(operator, base, "operator", logins["operator"][1])
        operator.goto(f"{base}/console/events/{event_id}")
        reserve = int(operator.locator("#reserve-devices").inner_text())
        assert reserve >= 1
        assert "Overrides honoured" in operator.locator("#cover").inner_text()
        operator.screenshot(
            path=str(tmp_path / "3-operator-reserve.png"), full_page=True
        )
        browser.close()
    assert (tmp_path / "3-operator-reserve.png").stat().st_size > 0


@pytest.fixture
def served_demo(
    tmp_path: Path,
) -> Iterator[tuple[str, dict[str, tuple[str, str, str]]]]:
    """A finished demo served by `coflex serve`, able to sign record bundles."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    url = f"sqlite:///{tmp_path / 'coflex.sqlite'}"
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    env = {
        **os.environ,
        "PYTHONWARNINGS": "ignore",
        "COFLEX_SIGNING_KEY": pem.decode(),
    }
    subprocess.run(
        [
            *COFLEX,
            "demo",
            "--customers",
            "12",
            "--seed",
            "3",
            "--quiet",
            "--database",
            url,
            "--output",
            str(tmp_path / "out"),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
        env=env,
        timeout=600,
    )
    port = _free_port()
    server = subprocess.Popen(
        [*COFLEX, "serve", "--database", url, "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_for(lambda: _reachable(f"{base}/login"), 60, "the server")
        yield base, _logins(tmp_path / "out" / "credentials.txt")
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_complaint_and_governance_pages(served_demo, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    base, logins = served_demo
    customer = next(u for u, (r, _, _) in logins.items() if r == "customer")
    with playwright.sync_playwright() as driver:
        browser = driver.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        phone = browser.new_page(viewport={"width": 390, "height": 844})
        _sign_in(phone, base, customer, logins[customer][1])
        phone.get_by_role("link", name="My complaints").click()
        phone.get_by_label("What it is about").select_option("notice")
        phone.get_by_label("What happened").fill("The notice reached me late.")
        phone.get_by_role("button", name="Send my complaint").click()
        playwright.expect(phone.locator("p.done")).to_contain_text("CMP-")
        assert phone.locator(".complaint").count() == 1
        phone.screenshot(
            path=str(tmp_path / "4-customer-complaints.png"), full_page=True
        )

        desk = browser.new_page()
        _sign_in(desk, base, "operator", logins["operator"][1])
        desk.goto(f"{base}/console/complaints")
        desk.get_by_role("button", name="Acknowledge CMP-000001").click()
        assert "done" in desk.locator("#complaint-1").inner_text()
        desk.screenshot(
            path=str(tmp_path / "5-operator-complaints.png"), full_page=True
        )
        desk.goto(f"{base}/console/compliance")
        assert desk.locator("tr.provision").count() > 5
        desk.screenshot(path=str(tmp_path / "6-compliance.png"), full_page=True)
        desk.goto(f"{base}/console/claims")
        desk.screenshot(path=str(tmp_path / "7-claims.png"), full_page=True)

        regulator = browser.new_page()
        _sign_in(regulator, base, "regulator", logins["regulator"][1])
        regulator.goto(f"{base}/regulator/records")
        regulator.get_by_label("Event").fill("1")
        regulator.get_by_label("Reason (inquiry or case)").fill("annual audit")
        regulator.get_by_role("button", name="Request the records").click()
        with regulator.expect_download() as download:
            regulator.get_by_role("link", name="Download request 1 (ZIP)").click()
        assert download.value.suggested_filename == "coflex-records-1.zip"
        regulator.screenshot(
            path=str(tmp_path / "8-record-requests.png"), full_page=True
        )

        docs = browser.new_page()
        docs.goto(f"{base}/api/v1/docs")
        name = "POST /api/v1/complaints"
        assert docs.get_by_role("heading", name=name, exact=True).count() == 1
        docs.screenshot(path=str(tmp_path / "9-api-reference.png"))
        browser.close()
    assert (tmp_path / "8-record-requests.png").stat().st_size > 0
