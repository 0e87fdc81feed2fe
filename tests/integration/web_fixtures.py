"""Helpers for the web tests: a demo database, its credentials, a paced event."""

from __future__ import annotations

import io
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from rich.console import Console
from sqlalchemy import select

from coflex.adapters.store.database import open_engine, session_factory, transaction
from coflex.adapters.store.models import Program

from coflex.services.demo import DemoOptions, run_demo

# Session cookies are Secure, so test clients speak to an https origin.
BASE_URL = "https://testserver"


@dataclass(frozen=True)
class Login:
    role: str
    username: str
    secret: str
    note: str


def read_credentials(path: Path) -> dict[str, Login]:
    """Read ``credentials.txt`` into username -> login."""
    logins = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#") or not line.strip():
            continue
        role, username, secret, *rest = line.split("\t")
        logins[username] = Login(role, username, secret, rest[0] if rest else "")
    return logins


def first_of(logins: dict[str, Login], role: str, note: str = "") -> Login:
    return next(
        login
        for login in logins.values()
        if login.role == role and (not note or login.note == note)
    )


def demo_options(
    url: str, output: Path, customers: int, event_speed: float | None = None
) -> DemoOptions:
    return DemoOptions(
        database_url=url,
        customers=customers,
        seed=3,
        weather_path=None,
        timezone="America/New_York",
        output_dir=output,
        override_share=0.1,
        target_kw=None,
        event_start_local=None,
        event_end_local=None,
        show_progress=False,
        event_speed=event_speed,
    )


def run_demo_quietly(options: DemoOptions) -> dict[str, object]:
    return run_demo(options, console=Console(file=io.StringIO()))


class DemoThread(threading.Thread):
    """Runs the demo in the background and keeps its result or error."""

    def __init__(self, options: DemoOptions) -> None:
        super().__init__(daemon=True)
        self.options = options
        self.summary: dict[str, object] | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.summary = run_demo_quietly(self.options)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc


def wait_for(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def sign_in(client: TestClient, login: Login) -> str:
    """Sign in through the login form; return the CSRF token of the session."""
    page = client.get("/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf is not None
    reply = client.post(
        "/login",
        data={
            "username": login.username,
            "password": login.secret,
            "csrf_token": csrf.group(1),
        },
        follow_redirects=False,
    )
    assert reply.status_code == 303, reply.text
    home = client.get("/")
    token = re.search(r'name="csrf_token" value="([^"]+)"', home.text)
    assert token is not None
    return token.group(1)


def bearer(client: TestClient, login: Login) -> dict[str, str]:
    """Return the Authorization header of a fresh token for ``login``."""
    if login.role == "device":
        return {"Authorization": f"Bearer {login.secret}"}
    reply = client.post(
        "/api/v1/tokens", json={"username": login.username, "password": login.secret}
    )
    assert reply.status_code == 201, reply.text
    return {"Authorization": f"Bearer {reply.json()['token']}"}


def open_season(url: str, last_day: date) -> None:
    """Extend the demo program's season to ``last_day``.

    The demo's season lies in its weather file's year, in the past, so an API
    request for a future window needs a season that reaches it.
    """
    engine = open_engine(url)
    with transaction(session_factory(engine)) as session:
        for program in session.scalars(select(Program)):
            program.season_end = last_day
    engine.dispose()


def signing_key_pem() -> str:
    """Return a new Ed25519 private key in PEM, the format of COFLEX_SIGNING_KEY."""
    key = Ed25519PrivateKey.generate()
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
