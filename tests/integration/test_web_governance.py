"""Complaints, claims, enrollment documents, compliance and record requests on the web.

Each test works on one demo database through the API or the pages, as the
account that would do it, and checks what the store kept.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator
from datetime import UTC, date, datetime
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
from coflex.adapters.store.models import FlexibilityRequest, Program
from coflex.adapters.store.models_governance import AuditEntry, Complaint
from coflex.adapters.store.models_records import RecordRequest
from coflex.domain.enrollment.claims import ClaimKind
from coflex.domain.governance.provisions import PROVISIONS
from coflex.entrypoints.web.app import create_app
from coflex.services import claims
from coflex.services.records_export import verify_bundle


@pytest.fixture(scope="module")
def site(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, dict[str, Login]]]:
    folder = tmp_path_factory.mktemp("web-governance")
    url = f"sqlite:///{folder / 'coflex.sqlite'}"
    run_demo_quietly(demo_options(url, folder / "out", 12))
    open_season(url, date(2030, 10, 31))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(KEY_ENV, signing_key_pem())
        yield url, read_credentials(folder / "out" / "credentials.txt")


@pytest.fixture(scope="module")
def client(site) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with TestClient(create_app(site[0]), base_url=BASE_URL) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def tokens(site, client) -> dict[str, dict[str, str]]:  # type: ignore[no-untyped-def]
    logins = site[1]
    found = {
        role: bearer(client, first_of(logins, role))
        for role in ("operator", "sales_representative", "regulator", "grid_operator")
    }
    found["customer"] = bearer(client, first_of(logins, "customer", "in the event"))
    found["other_customer"] = bearer(
        client, first_of(logins, "customer", "not in the event")
    )
    return found


def _factory(url: str):  # type: ignore[no-untyped-def]
    return session_factory(open_engine(url))


def _count(url: str, model) -> int:  # type: ignore[no-untyped-def]
    with _factory(url)() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def _own_statement(client: TestClient, headers: dict[str, str]) -> dict:
    items = client.get("/api/v1/statements", headers=headers).json()["items"]
    assert items, "the dispatched demo customer has a statement"
    return items[0]


def test_complaint_lifecycle(site, client: TestClient, tokens) -> None:  # type: ignore[no-untyped-def]
    customer, operator = tokens["customer"], tokens["operator"]
    statement = _own_statement(client, customer)
    filed = client.post(
        "/api/v1/complaints",
        json={
            "category": "baseline_and_payment",
            "summary": "My payment looks too low.",
            "statement_id": statement["id"],
        },
        headers=customer,
    )
    assert filed.status_code == 201, filed.text
    complaint = filed.json()
    assert complaint["status"] == "open"
    assert complaint["event_id"] == statement["event_id"]
    assert complaint["acknowledge_by"] < complaint["respond_by"]
    item = f"/api/v1/complaints/{complaint['id']}"

    own = client.get("/api/v1/complaints", headers=customer).json()["items"]
    assert complaint["id"] in {c["id"] for c in own}
    other = client.get(item, headers=tokens["other_customer"])
    assert other.status_code == 404
    queue = client.get("/api/v1/complaints?status=open", headers=operator).json()
    assert complaint["id"] in {c["id"] for c in queue["items"]}
    assert client.get(item, headers=tokens["regulator"]).status_code == 404

    early = client.post(f"{item}/escalation", headers=customer)
    assert early.status_code == 409
    assert early.json()["error"]["code"] == "rule_violation"
    acknowledged = client.post(f"{item}/acknowledgement", headers=operator)
    assert acknowledged.json()["status"] == "acknowledged"
    closed = client.post(
        f"{item}/deadlock",
        json={"response": "We stand by the baseline."},
        headers=operator,
    )
    assert closed.json()["status"] == "deadlocked"
    escalated = client.post(f"{item}/escalation", headers=customer)
    assert escalated.json()["status"] == "escalated"

    seen = client.get("/api/v1/complaints", headers=tokens["regulator"]).json()
    assert [c["id"] for c in seen["items"]] == [complaint["id"]]
    with _factory(site[0])() as session:
        actions = session.scalars(
            select(AuditEntry.action).where(
                AuditEntry.subject == f"complaint:{complaint['reference']}"
            )
        ).all()
    assert actions == [
        "complaint_received",
        "complaint_acknowledged",
        "complaint_deadlocked",
        "complaint_escalated",
    ]


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"category": "weather", "summary": "x"}, 422, "category"),
        ({"category": "notice", "summary": ""}, 422, "summary"),
        ({"category": "notice", "summary": "x", "event_id": 99999}, 404, "event_id"),
        ({"category": "notice", "summary": "x", "colour": "red"}, 422, "colour"),
    ],
)
def test_bad_complaint_stores_nothing(site, client, tokens, body, status, field) -> None:  # type: ignore[no-untyped-def]
    before = _count(site[0], Complaint)
    reply = client.post("/api/v1/complaints", json=body, headers=tokens["customer"])
    assert reply.status_code == status, reply.text
    assert reply.json()["error"]["field"] == field
    assert _count(site[0], Complaint) == before


def test_other_customers_statement_rejected(site, client, tokens) -> None:  # type: ignore[no-untyped-def]
    statement = _own_statement(client, tokens["customer"])
    reply = client.post(
        "/api/v1/complaints",
        json={"category": "notice", "summary": "x", "statement_id": statement["id"]},
        headers=tokens["other_customer"],
    )
    assert reply.status_code == 404
    assert reply.json()["error"]["field"] == "statement_id"


def test_record_request_bundle_verifies(site, client, tokens, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    regulator = tokens["regulator"]
    events = client.get("/api/v1/events", headers=regulator).json()["items"]
    event_id = events[-1]["id"]
    reply = client.post(
        "/api/v1/record-requests",
        json={"event_id": event_id, "reason": "inquiry 2026-14"},
        headers=regulator,
    )
    assert reply.status_code == 201, reply.text
    requested = reply.json()
    assert requested["scope"] == {"event": event_id}
    assert requested["records"] > 0

    download = client.get(
        f"/api/v1/record-requests/{requested['id']}/bundle", headers=regulator
    )
    assert download.headers["content-type"] == "application/zip"
    zipfile.ZipFile(io.BytesIO(download.content)).extractall(tmp_path)
    check = verify_bundle(tmp_path)
    assert check.problems == []
    assert check.fingerprint == requested["signing_key_sha256"]

    listed = client.get("/api/v1/record-requests", headers=regulator).json()
    assert requested["id"] in {r["id"] for r in listed["items"]}
    forbidden = client.get(
        f"/api/v1/record-requests/{requested['id']}/bundle", headers=tokens["operator"]
    )
    assert forbidden.status_code == 403


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"customer_reference": "ZZ-C999999", "reason": "x"}, 404, "customer"),
        (
            {"event_id": 1, "customer_reference": "A1-C000001", "reason": "x"},
            422,
            "scope",
        ),
        (
            {"from": "2031-01-01T00:00Z", "to": "2030-01-01T00:00Z", "reason": "x"},
            422,
            "to",
        ),
        ({"event_id": 1, "reason": ""}, 422, "reason"),
    ],
)
def test_bad_record_request_stores_nothing(site, client, tokens, body, status, field) -> None:  # type: ignore[no-untyped-def]
    before = _count(site[0], RecordRequest)
    reply = client.post(
        "/api/v1/record-requests", json=body, headers=tokens["regulator"]
    )
    assert reply.status_code == status, reply.text
    assert reply.json()["error"]["field"] == field
    assert _count(site[0], RecordRequest) == before


def test_record_request_without_key(site, client, tokens, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv(KEY_ENV)
    before = _count(site[0], RecordRequest)
    reply = client.post(
        "/api/v1/record-requests",
        json={"event_id": 1, "reason": "inquiry"},
        headers=tokens["regulator"],
    )
    assert reply.status_code == 503
    assert reply.json()["error"]["code"] == "signing_key_not_configured"
    assert _count(site[0], RecordRequest) == before


def test_compliance_report_json(client, tokens) -> None:  # type: ignore[no-untyped-def]
    for role in ("operator", "regulator"):
        report = client.get("/api/v1/compliance/report", headers=tokens[role]).json()
        keys = [p["provision"] for p in report["provisions"]]
        assert keys == [p.key for p in PROVISIONS]
    rejected = client.get("/api/v1/compliance/report", headers=tokens["customer"])
    assert rejected.status_code == 403


def test_claims_review_and_withdrawal(site, client, tokens) -> None:  # type: ignore[no-untyped-def]
    now = datetime.now(UTC)
    with transaction(_factory(site[0])) as session:
        claim_id = claims.register_claim(
            session,
            statement="Customers earned 40 USD a season on average",
            kind=ClaimKind.SAVINGS,
            value=40.0,
            unit="USD",
            source="2025 settlement records",
            method="mean over participants",
            assumptions="same program terms",
            population="all 2025 participants",
            as_of=now.date(),
            at=now,
            risk_statement="Earnings depend on how many events are called.",
        )
        material_id = claims.add_material(
            session, "flyer", "advert", "Earn with your thermostat.", [claim_id], now
        )
    item = f"/api/v1/claims/{claim_id}"
    assert client.get(item, headers=tokens["operator"]).json()["status"] == "unreviewed"
    listed = client.get("/api/v1/claims", headers=tokens["sales_representative"])
    assert claim_id in {c["id"] for c in listed.json()["items"]}
    sales = tokens["sales_representative"]
    rejected = client.post(f"{item}/review", json={"reviewer": "me"}, headers=sales)
    assert rejected.status_code == 403

    operator = tokens["operator"]
    reviewed = client.post(
        f"{item}/review", json={"reviewer": "compliance officer"}, headers=operator
    )
    assert reviewed.json()["status"] == "usable"
    withdrawn = client.post(
        f"{item}/withdrawal", json={"reason": "source revised"}, headers=operator
    )
    assert withdrawn.json()["claim"]["status"] == "withdrawn"
    assert withdrawn.json()["materials_withdrawn"] == [material_id]
    material = client.get(f"/api/v1/materials/{material_id}", headers=operator)
    assert material.json()["status"] == "withdrawn"


def test_customer_reads_own_documents(client, tokens) -> None:  # type: ignore[no-untyped-def]
    own = client.get("/api/v1/enrollment-documents", headers=tokens["customer"]).json()
    kinds = {d["kind"] for d in own["items"]}
    assert {"proposal", "key_facts", "terms"} <= kinds
    assert len({d["customer_id"] for d in own["items"]}) == 1
    first = own["items"][0]["id"]
    html = client.get(
        f"/api/v1/enrollment-documents/{first}/document", headers=tokens["customer"]
    )
    assert html.status_code == 200
    assert "<html" in html.text.lower()
    other = client.get(
        f"/api/v1/enrollment-documents/{first}", headers=tokens["other_customer"]
    )
    assert other.status_code == 404


def _request_body(**changes: object) -> dict[str, object]:
    body: dict[str, object] = {
        "program_id": 1,
        "start": "2030-07-01T19:00:00Z",
        "end": "2030-07-01T21:00:00Z",
        "target_kw": 5.0,
        "event_class": "reliability",
    }
    return {**body, **changes}


@pytest.mark.parametrize(
    ("changes", "code", "field", "words"),
    [
        (
            {"start": "2030-11-02T19:00:00Z", "end": "2030-11-02T20:00:00Z"},
            "invalid_flexibility_request",
            "start",
            "season",
        ),
        (
            {"target_kw": 1e6},
            "invalid_flexibility_request",
            "target_kw",
            "lower target_kw",
        ),
    ],
)
def test_request_outside_limits(site, client, tokens, changes, code, field, words) -> None:  # type: ignore[no-untyped-def]
    before = _count(site[0], FlexibilityRequest)
    reply = client.post(
        "/api/v1/flexibility-requests",
        json=_request_body(**changes),
        headers=tokens["grid_operator"],
    )
    assert reply.status_code == 422, reply.text
    error = reply.json()["error"]
    assert (error["code"], error["field"]) == (code, field)
    assert words in error["message"]
    assert _count(site[0], FlexibilityRequest) == before


def test_request_over_season_cap(site, client, tokens) -> None:  # type: ignore[no-untyped-def]
    factory = _factory(site[0])
    with transaction(factory) as session:
        program = session.get(Program, 1)
        saved = dict(program.terms)
        program.terms = {**saved, "max_events_per_season": 1}
    try:
        reply = client.post(
            "/api/v1/flexibility-requests",
            json=_request_body(),
            headers=tokens["grid_operator"],
        )
    finally:
        with transaction(factory) as session:
            session.get(Program, 1).terms = saved
    assert reply.status_code == 409, reply.text
    assert reply.json()["error"]["code"] == "season_cap_exceeded"
    assert "(1)" in reply.json()["error"]["message"]


def test_portal_complaint_form(site) -> None:  # type: ignore[no-untyped-def]
    login = first_of(site[1], "customer", "not in the event")
    with TestClient(create_app(site[0]), base_url=BASE_URL) as browser:
        csrf = sign_in(browser, login)
        empty = browser.post(
            "/portal/complaints",
            data={"csrf_token": csrf, "category": "notice", "summary": "  "},
        )
        assert empty.status_code == 422
        assert "What happened" in empty.text
        filed = browser.post(
            "/portal/complaints",
            data={"csrf_token": csrf, "category": "override", "summary": "Too slow."},
        )
        reference = re.search(r"We received your complaint (CMP-\d+)", filed.text)
        assert reference is not None
        assert "We give our final response by" in filed.text
    with TestClient(create_app(site[0]), base_url=BASE_URL) as desk:
        csrf = sign_in(desk, first_of(site[1], "operator"))
        queue = desk.get("/console/complaints")
        assert reference.group(1) in queue.text
        with _factory(site[0])() as session:
            row = session.scalar(
                select(Complaint).where(Complaint.reference == reference.group(1))
            )
        desk.post(
            f"/console/complaints/{row.id}/acknowledgement", data={"csrf_token": csrf}
        )
        with _factory(site[0])() as session:
            assert session.get(Complaint, row.id).status == "acknowledged"
            assert session.get(Complaint, row.id).channel == "portal"


def test_password_change(site, client) -> None:  # type: ignore[no-untyped-def]
    login = first_of(site[1], "sales_representative")
    old_token = bearer(client, login)
    new = "correct horse battery staple"
    with TestClient(create_app(site[0]), base_url=BASE_URL) as browser:
        csrf = sign_in(browser, login)
        form = {"csrf_token": csrf, "current_password": login.secret}
        wrong = browser.post(
            "/account/password",
            data={
                **form,
                "current_password": "nope",
                "new_password": new,
                "repeated_password": new,
            },
        )
        assert wrong.status_code == 401
        differ = browser.post(
            "/account/password",
            data={**form, "new_password": new, "repeated_password": new + "!"},
        )
        assert differ.status_code == 422
        assert "repetition differ" in differ.text
        done = browser.post(
            "/account/password",
            data={**form, "new_password": new, "repeated_password": new},
        )
        assert done.status_code == 200
        assert "Your password is changed" in done.text
        assert browser.get("/account").status_code == 200
    assert client.get("/api/v1/claims", headers=old_token).status_code == 401
    relogin = Login(login.role, login.username, new, login.note)
    assert bearer(client, relogin)["Authorization"].startswith("Bearer ")


def test_regulator_pages(site) -> None:  # type: ignore[no-untyped-def]
    with TestClient(create_app(site[0]), base_url=BASE_URL) as browser:
        csrf = sign_in(browser, first_of(site[1], "regulator"))
        bad = browser.post(
            "/regulator/records",
            data={"csrf_token": csrf, "reason": "x", "start": "yesterday", "end": ""},
        )
        assert bad.status_code == 422
        assert "not a date and time" in bad.text
        requested = browser.post(
            "/regulator/records",
            data={"csrf_token": csrf, "reason": "audit", "event_id": "1"},
        )
        assert requested.status_code == 200
        link = re.search(r'href="(/regulator/records/\d+/bundle)"', requested.text)
        assert link is not None
        bundle = browser.get(link.group(1))
        assert bundle.headers["content-type"] == "application/zip"
        assert browser.get("/regulator/complaints").status_code == 200


def test_operator_dashboards(site) -> None:  # type: ignore[no-untyped-def]
    with TestClient(create_app(site[0]), base_url=BASE_URL) as browser:
        sign_in(browser, first_of(site[1], "operator"))
        compliance = browser.get("/console/compliance")
        assert compliance.status_code == 200
        assert compliance.text.count('class="provision ') == len(PROVISIONS)
        assert browser.get("/console/claims").status_code == 200


def test_api_docs_offline(client: TestClient) -> None:
    page = client.get("/api/v1/docs")
    assert page.status_code == 200
    assert "<script" not in page.text
    assert "POST /api/v1/complaints" in page.text
    assert "swagger" not in page.text.lower()
    assert "cdn." not in page.text
