"""The privacy API and the "My data and privacy" page, on SQLite and PostgreSQL.

Ownership rule: a customer acts only on their own data, staff only on their
aggregator's customers, and a regulator only reads privacy requests.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from xml.etree import ElementTree as ET

import pytest
from fastapi.testclient import TestClient
from privacy_fixtures import ADDRESS, EMAIL, ENDED, NAME, PASSWORD, PHONE, build_store
from sqlalchemy import select
from web_fixtures import BASE_URL, Login, bearer, sign_in

from coflex.adapters import greenbutton
from coflex.adapters.store.database import transaction
from coflex.adapters.store.models import Aggregator, Consent, Customer
from coflex.adapters.store.models_governance import AuditEntry
from coflex.entrypoints.web.app import create_app
from coflex.services.accounts import Role, create_account

STAFF_PASSWORD = "operator password 1"


@pytest.fixture
def client(database_url: str) -> Iterator[TestClient]:
    for factory in build_store(database_url, ENDED):
        yield from _serve(database_url, factory)


def _serve(database_url: str, factory) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with transaction(factory) as session:
        aggregator = session.scalar(select(Aggregator))
        assert aggregator is not None
        now = datetime(2026, 1, 1, tzinfo=UTC)
        create_account(
            session,
            "op",
            Role.OPERATOR,
            "Desk",
            STAFF_PASSWORD,
            now=now,
            aggregator_id=aggregator.id,
        )
        create_account(
            session,
            "reg",
            Role.REGULATOR,
            "Staff",
            STAFF_PASSWORD,
            now=now,
            jurisdiction=aggregator.jurisdiction,
        )
    with TestClient(create_app(database_url), base_url=BASE_URL) as test_client:
        test_client.app_state_factory = factory  # type: ignore[attr-defined]
        yield test_client


def _token(client: TestClient, username: str, password: str) -> dict[str, str]:
    return bearer(client, Login("x", username, password, ""))


def _ids(client: TestClient) -> tuple[int, int]:
    factory = client.app_state_factory  # type: ignore[attr-defined]
    with factory() as session:
        ids = session.scalars(select(Customer.id).order_by(Customer.id)).all()
    return ids[0], ids[1]


def test_customer_exports_own_data(client: TestClient) -> None:
    own, other = _ids(client)
    headers = _token(client, "ada", PASSWORD)
    reply = client.get(f"/api/v1/customers/{own}/export", headers=headers)
    assert reply.status_code == 200
    assert json.loads(reply.content)["identity"]["name"] == NAME
    assert "attachment" in reply.headers["content-disposition"]
    xml = client.get(
        f"/api/v1/customers/{own}/export?format=greenbutton", headers=headers
    )
    assert xml.status_code == 200
    assert ET.fromstring(xml.content).tag == f"{{{greenbutton.ATOM_NS}}}feed"
    archive = client.get(f"/api/v1/customers/{own}/export?format=csv", headers=headers)
    assert "identity.csv" in zipfile.ZipFile(io.BytesIO(archive.content)).namelist()
    foreign = client.get(f"/api/v1/customers/{other}/export", headers=headers)
    assert foreign.status_code == 404


def test_empty_range_green_button_404(client: TestClient) -> None:
    own, _ = _ids(client)
    reply = client.get(
        f"/api/v1/customers/{own}/export?format=greenbutton&start=2019-01-01"
        "&end=2019-01-31",
        headers=_token(client, "ada", PASSWORD),
    )
    assert reply.status_code == 404
    assert "2019-01-01 to 2019-01-31" in reply.json()["error"]["message"]


def test_regulator_reads_only(client: TestClient) -> None:
    own, _ = _ids(client)
    customer = _token(client, "ada", PASSWORD)
    client.get(f"/api/v1/customers/{own}/export", headers=customer)
    regulator = _token(client, "reg", STAFF_PASSWORD)
    listed = client.get("/api/v1/privacy-requests", headers=regulator)
    assert listed.status_code == 200
    assert [r["kind"] for r in listed.json()] == ["export"]
    for method, path, body in (
        ("GET", f"/customers/{own}/export", None),
        ("POST", f"/customers/{own}/corrections", {"name": "X"}),
        ("POST", f"/customers/{own}/deletion", {"confirm": True}),
    ):
        reply = client.request(method, f"/api/v1{path}", json=body, headers=regulator)
        assert reply.status_code == 403, path


def test_operator_corrects_customer(client: TestClient) -> None:
    own, _ = _ids(client)
    reply = client.post(
        f"/api/v1/customers/{own}/corrections",
        json={"phone": "+1 919 555 0199", "postal_address": "3 Oak Lane"},
        headers=_token(client, "op", STAFF_PASSWORD),
    )
    assert reply.status_code == 200, reply.text
    assert reply.json() == {"corrected": ["phone", "postal_address"]}
    factory = client.app_state_factory  # type: ignore[attr-defined]
    with factory() as session:
        entry = session.scalar(
            select(AuditEntry).where(AuditEntry.action == "personal_data_corrected")
        )
    assert entry is not None
    assert entry.actor.startswith("operator:")
    assert "3 Oak Lane" not in json.dumps(entry.details)


def test_consent_grant_and_revoke(client: TestClient) -> None:
    own, _ = _ids(client)
    headers = _token(client, "ada", PASSWORD)
    granted = client.post(
        f"/api/v1/customers/{own}/consents",
        json={"purpose": "sharing_utility_iso", "recipient": "Duke Energy"},
        headers=headers,
    )
    assert granted.status_code == 201, granted.text
    revoked = client.delete(
        f"/api/v1/customers/{own}/consents/sharing_utility_iso", headers=headers
    )
    assert revoked.status_code == 200
    assert revoked.json()["revoked"] == [granted.json()["id"]]


def test_deletion_closes_account(client: TestClient) -> None:
    own, _ = _ids(client)
    headers = _token(client, "ada", PASSWORD)
    refused = client.post(
        f"/api/v1/customers/{own}/deletion", json={"confirm": False}, headers=headers
    )
    assert refused.status_code == 422
    reply = client.post(
        f"/api/v1/customers/{own}/deletion", json={"confirm": True}, headers=headers
    )
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["pseudonym"].startswith("pseudonym-")
    assert "contracts and settlements" in body["kept"]
    again = client.get(f"/api/v1/customers/{own}/export", headers=headers)
    assert again.status_code == 401


def _csrf(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match is not None
    return match.group(1)


def test_privacy_page_actions(client: TestClient) -> None:
    sign_in(client, Login("customer", EMAIL, PASSWORD, ""))
    page = client.get("/portal/privacy")
    assert page.status_code == 200
    assert "My data and privacy" in page.text
    assert 'data-purpose="measurement"' in page.text
    csrf = _csrf(page.text)
    download = client.post(
        "/portal/privacy/export", data={"format": "greenbutton", "csrf_token": csrf}
    )
    assert download.status_code == 200
    assert download.headers["content-type"].startswith("application/atom+xml")
    revoked = client.post(
        "/portal/privacy/consents",
        data={"purpose": "measurement", "action": "revoke", "csrf_token": csrf},
        follow_redirects=False,
    )
    assert revoked.status_code == 303
    factory = client.app_state_factory  # type: ignore[attr-defined]
    with factory() as session:
        consent = session.scalar(select(Consent))
    assert consent is not None
    assert consent.revoked_at is not None
    corrected = client.post(
        "/portal/privacy/correction",
        data={
            "name": "Ada L.",
            "email": EMAIL,
            "phone": PHONE,
            "postal_address": ADDRESS,
            "csrf_token": csrf,
        },
    )
    assert corrected.status_code == 200
    assert "Saved your corrected name." in corrected.text
