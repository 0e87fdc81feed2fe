"""Rate limits of the web app: sign-in, token requests and override writes.

NIST SP 800-63B section 5.2.2 requires a limit on failed sign-ins per
account; RFC 6585 section 4 defines 429 Too Many Requests with Retry-After.
"""

from __future__ import annotations

import re
import socket
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from coflex.adapters.store.database import (
    migrate,
    open_engine,
    session_factory,
    transaction,
)
from coflex.adapters.store.models import Aggregator, Customer
from coflex.adapters.store.models_governance import AuditEntry
from coflex.entrypoints.web.app import create_app
from coflex.entrypoints.web.rate_limits import RateLimits, RatePolicy
from coflex.errors import CoflexError
from coflex.services import audit
from coflex.services.accounts import Role, create_account

BASE_URL = "https://testserver"
PASSWORD = "correct horse battery"
NOW = datetime(2026, 7, 1, tzinfo=UTC)
# Hour-long windows, so that no window ends in the middle of a test.
POLICY = RatePolicy(
    login_failures_per_account="3 per hour",
    login_attempts_per_address="8 per hour",
    token_attempts_per_address="8 per hour",
    override_writes_per_account="2 per hour",
    complaint_writes_per_account="2 per hour",
)


def _store(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'coflex.sqlite'}"
    engine = open_engine(url)
    migrate(engine)
    with transaction(session_factory(engine)) as session:
        aggregator = Aggregator(
            name="a", jurisdiction="US-NC", registration_number="r", registered_at=NOW
        )
        session.add(aggregator)
        session.flush()
        customer = Customer(
            aggregator_id=aggregator.id,
            reference="A1-C000001",
            name="Customer",
            preferred_channel="email",
            created_at=NOW,
        )
        session.add(customer)
        session.flush()
        for username, role in (("operator", Role.OPERATOR), ("alex", Role.CUSTOMER)):
            create_account(
                session,
                username,
                role,
                username,
                PASSWORD,
                now=NOW,
                aggregator_id=aggregator.id,
                customer_id=customer.id,
            )
    engine.dispose()
    return url


@pytest.fixture
def client(tmp_path: Path):  # type: ignore[no-untyped-def]
    app = create_app(_store(tmp_path), rate_limits=RateLimits(policy=POLICY))
    with TestClient(app, base_url=BASE_URL) as test_client:
        yield test_client


def _login(client: TestClient, username: str, password: str):  # type: ignore[no-untyped-def]
    page = client.get("/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf is not None
    return client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": csrf.group(1)},
        follow_redirects=False,
    )


def _lockouts(client: TestClient) -> list[AuditEntry]:
    with client.app.state.factory() as session:  # type: ignore[attr-defined]
        assert audit.verify(session).intact
        return list(
            session.scalars(
                select(AuditEntry).where(AuditEntry.action == "rate_limit_locked_out")
            )
        )


def test_login_locks_account_after_failures(client: TestClient) -> None:
    statuses = [_login(client, "operator", "wrong password!").status_code for _ in "abc"]
    locked = _login(client, "operator", PASSWORD)
    assert statuses == [401, 401, 401]
    assert locked.status_code == 429
    assert 1 <= int(locked.headers["Retry-After"]) <= 3600
    assert "Too many requests" in locked.text
    entries = _lockouts(client)
    assert len(entries) == 1
    assert entries[0].subject.startswith("account:")
    assert entries[0].details["rule"] == "login_failures_per_account"
    assert entries[0].details["limit"] == "3 per hour"


def test_lockout_spares_other_accounts(client: TestClient) -> None:
    for _ in range(3):
        _login(client, "operator", "wrong password!")
    assert _login(client, "alex", PASSWORD).status_code == 303


def test_login_limits_client_address(client: TestClient) -> None:
    statuses = [
        _login(client, f"nobody-{i}", "wrong password!").status_code for i in range(9)
    ]
    assert statuses[:8] == [401] * 8
    assert statuses[8] == 429
    entries = _lockouts(client)
    assert [e.subject for e in entries] == ["client"]
    assert entries[0].details["rule"] == "login_attempts_per_address"


def test_token_request_locked_out(client: TestClient) -> None:
    body = {"username": "operator", "password": "wrong password!"}
    statuses = [client.post("/api/v1/tokens", json=body).status_code for _ in "abc"]
    locked = client.post(
        "/api/v1/tokens", json={"username": "operator", "password": PASSWORD}
    )
    assert statuses == [401, 401, 401]
    assert locked.status_code == 429
    assert locked.json()["error"]["code"] == "rate_limited"
    assert int(locked.headers["Retry-After"]) >= 1
    assert len(_lockouts(client)) == 1


def test_override_writes_limited(client: TestClient) -> None:
    reply = client.post(
        "/api/v1/tokens", json={"username": "alex", "password": PASSWORD}
    )
    headers = {"Authorization": f"Bearer {reply.json()['token']}"}
    body = {"event_id": 1, "site_id": 999}
    statuses = [
        client.post("/api/v1/overrides", json=body, headers=headers).status_code
        for _ in range(3)
    ]
    assert statuses == [404, 404, 429]
    entries = _lockouts(client)
    assert entries[0].details["rule"] == "override_writes_per_account"
    assert entries[0].customer_id == 1


def test_complaint_writes_limited(client: TestClient) -> None:
    reply = client.post(
        "/api/v1/tokens", json={"username": "alex", "password": PASSWORD}
    )
    headers = {"Authorization": f"Bearer {reply.json()['token']}"}
    body = {"category": "notice", "summary": "The notice came late."}
    statuses = [
        client.post("/api/v1/complaints", json=body, headers=headers).status_code
        for _ in range(3)
    ]
    assert statuses == [201, 201, 429]
    entries = _lockouts(client)
    assert entries[0].details["rule"] == "complaint_writes_per_account"


def _redis_up() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 6379), 2).close()
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _redis_up(), reason="Redis is not running at 127.0.0.1:6379")
def test_redis_counts_across_apps(tmp_path: Path) -> None:
    """Two app instances on one Redis share the count, as worker processes do."""
    url = _store(tmp_path)
    username = f"nobody-{uuid.uuid4().hex}"
    prefix = f"coflex-test-{uuid.uuid4().hex}"
    apps = [
        create_app(
            url,
            rate_limits=RateLimits(
                "redis://127.0.0.1:6379/0", policy=POLICY, key_prefix=prefix
            ),
        )
        for _ in range(2)
    ]
    with (
        TestClient(apps[0], base_url=BASE_URL) as first,
        TestClient(apps[1], base_url=BASE_URL) as second,
    ):
        statuses = [
            _login(first, username, "wrong password!").status_code,
            _login(second, username, "wrong password!").status_code,
            _login(first, username, "wrong password!").status_code,
            _login(second, username, "wrong password!").status_code,
        ]
    apps[0].state.rate_limits.clear()
    assert statuses == [401, 401, 401, 429]


def test_unreachable_storage_rejected() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(CoflexError, match="is not reachable"):
        RateLimits(f"redis://127.0.0.1:{port}/0")
