"""Every route against every role, ownership by id, and bad input.

Ownership rule: a customer sees only their own records, an operator only
their aggregator's; rows outside an account's scope read as not found.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from web_fixtures import (
    BASE_URL,
    Login,
    bearer,
    demo_options,
    first_of,
    open_season,
    read_credentials,
    run_demo_quietly,
    sign_in,
    signing_key_pem,
)

from coflex.adapters.signing import KEY_ENV

from coflex.adapters.store.database import open_engine, session_factory, transaction
from coflex.adapters.store.models import (
    Device,
    DeviceCommand,
    FlexibilityRequest,
    Site,
    Statement,
)
from coflex.adapters.store.models_web import Account, ApiToken, PendingOverride
from coflex.entrypoints.web import api_enrollment, api_governance
from coflex.entrypoints.web.api import RESOURCES
from coflex.entrypoints.web.app import create_app
from coflex.services.accounts import issue_token

ROLES = (
    "customer",
    "operator",
    "sales_representative",
    "regulator",
    "grid_operator",
    "device",
)
STAFF = ("operator", "sales_representative")
ACTIONS = {
    ("POST", "/tokens"): set(ROLES),
    ("DELETE", "/tokens/current"): set(ROLES),
    ("POST", "/flexibility-requests"): {"grid_operator"},
    ("POST", "/overrides"): {"customer"},
    ("GET", "/override-requests/{item_id}"): {"customer"},
    ("POST", "/device-commands/{item_id}/acknowledgement"): {"device"},
    ("GET", "/statements/{item_id}/document"): {"operator", "customer"},
    ("POST", "/complaints"): {"customer"},
    ("POST", "/complaints/{item_id}/acknowledgement"): {"operator"},
    ("POST", "/complaints/{item_id}/resolution"): {"operator"},
    ("POST", "/complaints/{item_id}/deadlock"): {"operator"},
    ("POST", "/complaints/{item_id}/escalation"): {"customer"},
    ("GET", "/compliance/report"): {"operator", "regulator"},
    ("POST", "/record-requests"): {"regulator"},
    ("GET", "/record-requests/{item_id}/bundle"): {"regulator"},
    ("POST", "/claims/{item_id}/review"): {"operator"},
    ("POST", "/claims/{item_id}/withdrawal"): {"operator"},
    ("GET", "/enrollment-documents/{item_id}/document"): {
        "operator",
        "sales_representative",
        "customer",
    },
    ("GET", "/customers/{item_id}/export"): {"customer", *STAFF},
    ("POST", "/customers/{item_id}/consents"): {"customer", *STAFF},
    ("DELETE", "/customers/{item_id}/consents/{purpose}"): {"customer", *STAFF},
    ("POST", "/customers/{item_id}/corrections"): {"customer", *STAFF},
    ("POST", "/customers/{item_id}/deletion"): {"customer", *STAFF},
    ("GET", "/privacy-requests"): {"customer", "regulator", *STAFF},
    ("POST", "/events/{item_id}/change"): {"operator"},
    ("POST", "/events/{item_id}/cancellation"): {"operator"},
    ("POST", "/opt-outs"): {"customer"},
    ("POST", "/program-departures"): {"customer"},
}
PAGES = {
    "/portal": {"customer"},
    "/portal/statements/1": {"customer"},
    "/portal/overrides/1": {"customer"},
    "/portal/privacy": {"customer"},
    "/portal/automation": {"customer"},
    "/portal/commands": {"customer"},
    "/portal/opt-outs/1": {"customer"},
    "/console": {"operator"},
    "/console/events/1": {"operator"},
    "/regulator": {"regulator"},
    "/regulator/events/1/report": {"regulator"},
    "/portal/complaints": {"customer"},
    "/console/complaints": {"operator"},
    "/console/claims": {"operator"},
    "/console/compliance": {"operator"},
    "/regulator/complaints": {"regulator"},
    "/regulator/records": {"regulator"},
    "/regulator/records/1/bundle": {"regulator"},
    "/account/password": {
        "customer",
        "operator",
        "sales_representative",
        "regulator",
        "grid_operator",
    },
    "/account": {
        "customer",
        "operator",
        "sales_representative",
        "regulator",
        "grid_operator",
    },
}
BODIES = {
    "/flexibility-requests": {
        "program_id": 1,
        "start": "2030-07-01T19:00:00Z",
        "end": "2030-07-01T21:00:00Z",
        "target_kw": 5.0,
        "event_class": "reliability",
    },
    "/overrides": {"event_id": 1, "site_id": 1},
    "/complaints": {"category": "notice", "summary": "The notice came late."},
    "/complaints/{item_id}/resolution": {
        "outcome": "upheld",
        "response": "We resent the notice.",
    },
    "/complaints/{item_id}/deadlock": {"response": "We could not agree."},
    "/record-requests": {"event_id": 1, "reason": "inquiry 2026-14"},
    "/claims/{item_id}/review": {"reviewer": "compliance officer"},
    "/claims/{item_id}/withdrawal": {"reason": "source withdrawn"},
    "/events/{item_id}/change": {"reason": "access check", "target_kw": 5.0},
    "/events/{item_id}/cancellation": {"reason": "access check"},
    "/opt-outs": {"event_id": 1, "site_id": 1},
    # A program no customer is enrolled in, so that the check leaves no one.
    "/program-departures": {"program_id": 999999},
}


def expected_roles() -> dict[tuple[str, str], set[str]]:
    table = dict(ACTIONS)
    every = (*RESOURCES, *api_enrollment.RESOURCES, *api_governance.RESOURCES)
    for resource in every:
        roles = {role.value for role in resource.roles}
        table[("GET", f"/{resource.path}")] = roles
        table[("GET", f"/{resource.path}/{{item_id}}")] = roles
    return table


@pytest.fixture(scope="module")
def site(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, dict[str, Login]]]:
    folder = tmp_path_factory.mktemp("web-access")
    url = f"sqlite:///{folder / 'coflex.sqlite'}"
    run_demo_quietly(demo_options(url, folder / "out", 20))
    open_season(url, date(2030, 10, 31))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(KEY_ENV, signing_key_pem())
        yield url, read_credentials(folder / "out" / "credentials.txt")


@pytest.fixture(scope="module")
def client(site) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with TestClient(create_app(site[0]), base_url=BASE_URL) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def headers(site, client) -> dict[str, dict[str, str]]:  # type: ignore[no-untyped-def]
    logins = site[1]
    return {role: bearer(client, first_of(logins, role)) for role in ROLES}


def _call(client: TestClient, method: str, path: str, headers: dict[str, str]):  # type: ignore[no-untyped-def]
    concrete = path.replace("{item_id}", "1")
    body = BODIES.get(path)
    if path == "/tokens":
        body = {"username": "nobody", "password": "wrong password"}
    return client.request(method, f"/api/v1{concrete}", json=body, headers=headers)


def test_matrix_covers_every_route(client: TestClient) -> None:
    document = client.get("/api/v1/openapi.json").json()
    routes = {
        (method.upper(), path)
        for path, operations in document["paths"].items()
        for method in operations
    }
    assert routes == set(expected_roles())


@pytest.mark.parametrize("role", ROLES)
def test_api_routes_by_role(client: TestClient, headers, role: str) -> None:  # type: ignore[no-untyped-def]
    for (method, path), allowed in sorted(expected_roles().items()):
        if path in ("/tokens", "/tokens/current"):
            continue
        reply = _call(client, method, path, headers[role])
        if role in allowed:
            assert reply.status_code not in (401, 403), (method, path, reply.text)
        else:
            assert reply.status_code == 403, (method, path, reply.text)
            assert reply.json()["error"]["code"] == "forbidden"


def test_api_needs_a_token(client: TestClient) -> None:
    for method, path in expected_roles():
        if path == "/tokens":
            continue
        reply = _call(client, method, path, {})
        assert reply.status_code == 401, (method, path)
        assert reply.json()["error"]["code"] == "not_authenticated"


@pytest.mark.parametrize("role", [r for r in ROLES if r != "device"])
def test_pages_by_role(site, role: str) -> None:  # type: ignore[no-untyped-def]
    with TestClient(create_app(site[0]), base_url=BASE_URL) as browser:
        sign_in(browser, first_of(site[1], role))
        for path, allowed in PAGES.items():
            reply = browser.get(path, follow_redirects=False)
            if role in allowed:
                assert reply.status_code in (200, 404), (path, reply.status_code)
            else:
                assert reply.status_code == 403, (path, reply.status_code)


def test_portal_automation_and_commands(site) -> None:  # type: ignore[no-untyped-def]
    """A dispatched customer reads the control document and every own command."""
    login = first_of(site[1], "customer", "in the event")
    with TestClient(create_app(site[0]), base_url=BASE_URL) as browser:
        sign_in(browser, login)
        document = browser.get("/portal/automation")
        commands = browser.get("/portal/commands")
    engine = open_engine(site[0])
    with session_factory(engine)() as session:
        own = session.scalar(
            select(func.count(DeviceCommand.id))
            .join(Device, Device.id == DeviceCommand.device_id)
            .join(Site, Site.id == Device.site_id)
            .join(Account, Account.customer_id == Site.customer_id)
            .where(Account.username == login.username)
        )
    engine.dispose()
    assert document.status_code == 200
    assert "override" in document.text.lower()
    assert commands.status_code == 200
    assert own > 0
    assert commands.text.count("<tr>") == own + 1  # one header row


def test_pages_need_sign_in(client: TestClient) -> None:
    for path in PAGES:
        reply = client.get(path, follow_redirects=False)
        assert reply.status_code == 303, path
        assert reply.headers["location"] == "/login"


def _other_customer_ids(url: str, customer_id: int) -> dict[str, int]:
    engine = open_engine(url)
    with session_factory(engine)() as session:
        site_id = session.scalar(
            select(Site.id).where(Site.customer_id != customer_id).order_by(Site.id)
        )
        site = session.get(Site, site_id)
        assert site is not None
        statement = session.scalar(
            select(Statement.id).where(Statement.customer_id != customer_id)
        )
    engine.dispose()
    return {
        "customers": site.customer_id,
        "sites": site.id,
        "statements": statement or 1,
    }


def test_other_customers_not_found(site, client: TestClient) -> None:  # type: ignore[no-untyped-def]
    login = first_of(site[1], "customer")
    own = bearer(client, login)
    engine = open_engine(site[0])
    with session_factory(engine)() as session:
        mine = session.scalar(
            select(Account.customer_id).where(Account.username == login.username)
        )
    engine.dispose()
    other = _other_customer_ids(site[0], int(mine or 0))
    for path, item_id in other.items():
        reply = client.get(f"/api/v1/{path}/{item_id}", headers=own)
        assert reply.status_code == 404, path
        assert reply.json()["error"]["code"] == "not_found"
    listed = client.get("/api/v1/sites?limit=200", headers=own).json()["items"]
    assert {s["customer_id"] for s in listed} == {mine}
    pressed = client.post(
        "/api/v1/overrides",
        json={"event_id": 3, "site_id": other["sites"]},
        headers=own,
    )
    assert pressed.status_code == 404


def _counts(url: str) -> tuple[int, int, int]:
    engine = open_engine(url)
    with session_factory(engine)() as session:
        counts = tuple(
            int(session.scalar(select(func.count()).select_from(model)) or 0)
            for model in (FlexibilityRequest, PendingOverride, ApiToken)
        )
    engine.dispose()
    return counts  # type: ignore[return-value]


BAD_REQUESTS = [
    ("malformed_json", b"{not json", 400, "malformed_json"),
    (
        "wrong_type",
        b'{"program_id": "one", "start": "2030-07-01T19:00:00Z", '
        b'"end": "2030-07-01T21:00:00Z", "target_kw": 5, "event_class": "reliability"}',
        422,
        "invalid_input",
    ),
    (
        "unknown_field",
        b'{"program_id": 1, "start": "2030-07-01T19:00:00Z", '
        b'"end": "2030-07-01T21:00:00Z", "target_kw": 5, "event_class": "reliability", '
        b'"priority": "high"}',
        422,
        "unknown_field",
    ),
    (
        "naive_time",
        b'{"program_id": 1, "start": "2030-07-01T19:00:00", '
        b'"end": "2030-07-01T21:00:00Z", "target_kw": 5, "event_class": "reliability"}',
        422,
        "invalid_input",
    ),
    (
        "end_before_start",
        b'{"program_id": 1, "start": "2030-07-01T21:00:00Z", '
        b'"end": "2030-07-01T19:00:00Z", "target_kw": 5, "event_class": "reliability"}',
        422,
        "invalid_flexibility_request",
    ),
    ("oversized", b'{"pad": "' + b"x" * 70_000 + b'"}', 413, "body_too_large"),
]


@pytest.mark.parametrize(("name", "body", "status", "code"), BAD_REQUESTS)
def test_bad_request_stores_nothing(
    site, client: TestClient, headers, name, body, status, code
) -> None:  # type: ignore[no-untyped-def]
    before = _counts(site[0])
    reply = client.post(
        "/api/v1/flexibility-requests",
        content=body,
        headers={**headers["grid_operator"], "Content-Type": "application/json"},
    )
    assert reply.status_code == status, reply.text
    assert reply.json()["error"]["code"] == code
    assert reply.json()["error"]["message"]
    assert _counts(site[0]) == before


def test_valid_request_opens_event(client: TestClient, headers) -> None:  # type: ignore[no-untyped-def]
    # A window of its own: the route matrix may have opened an event on the
    # shared body's window, and a program admits one open event per window.
    body = {
        **BODIES["/flexibility-requests"],
        "start": "2030-07-02T19:00:00Z",
        "end": "2030-07-02T21:00:00Z",
    }
    reply = client.post(
        "/api/v1/flexibility-requests", json=body, headers=headers["grid_operator"]
    )
    assert reply.status_code == 201, reply.text
    assert reply.json()["event_id"] > 0

    again = client.post(
        "/api/v1/flexibility-requests", json=body, headers=headers["grid_operator"]
    )
    assert again.status_code == 422
    assert again.json()["error"]["field"] == "start"


def test_forged_and_expired_tokens(site, client: TestClient) -> None:  # type: ignore[no-untyped-def]
    engine = open_engine(site[0])
    factory = session_factory(engine)
    with transaction(factory) as session:
        account = session.scalar(select(Account).where(Account.role == "operator"))
        assert account is not None
        past = datetime.now(UTC) - timedelta(days=31)
        expired = issue_token(session, account, "expired", past, timedelta(days=30))
    engine.dispose()
    for token in (expired, "forged-" + "a" * 40, expired[:-1] + "x"):
        reply = client.get(
            "/api/v1/events", headers={"Authorization": f"Bearer {token}"}
        )
        assert reply.status_code == 401
        assert reply.json()["error"]["code"] == "not_authenticated"


def test_login_form_needs_csrf(site, client: TestClient) -> None:  # type: ignore[no-untyped-def]
    login = first_of(site[1], "operator")
    reply = client.post(
        "/login",
        data={"username": login.username, "password": login.secret, "csrf_token": "x"},
        follow_redirects=False,
    )
    assert reply.status_code == 400


def test_login_without_token_gets_page(site, client: TestClient) -> None:  # type: ignore[no-untyped-def]
    login = first_of(site[1], "operator")
    reply = client.post(
        "/login",
        data={"username": login.username, "password": login.secret},
        follow_redirects=False,
    )
    assert reply.status_code == 400
    assert reply.headers["content-type"].startswith("text/html")
    assert "The form expired" in reply.text


def test_form_missing_field_gets_page(site) -> None:  # type: ignore[no-untyped-def]
    with TestClient(create_app(site[0]), base_url=BASE_URL) as browser:
        csrf = sign_in(browser, first_of(site[1], "customer"))
        reply = browser.post(
            "/portal/overrides", data={"event_id": 3, "csrf_token": csrf}
        )
    assert reply.status_code == 422
    assert reply.headers["content-type"].startswith("text/html")
    assert "site_id" in reply.text


def test_override_form_needs_csrf(site) -> None:  # type: ignore[no-untyped-def]
    with TestClient(create_app(site[0]), base_url=BASE_URL) as browser:
        sign_in(browser, first_of(site[1], "customer"))
        reply = browser.post(
            "/portal/overrides",
            data={"event_id": 3, "site_id": 1, "csrf_token": "forged"},
        )
        assert reply.status_code == 403


def test_credentials_file_private(site) -> None:  # type: ignore[no-untyped-def]
    path = Path(site[0].removeprefix("sqlite:///")).parent / "out" / "credentials.txt"
    assert path.stat().st_mode & 0o777 == 0o600
