"""Customers' data rights and encryption at rest, on SQLite and PostgreSQL.

DOE DataGuard Energy Data Privacy Program, "access and participation": a
customer can see and download the data held on them and have it corrected.
Code of Conduct, Competition: a customer can take their data to a competitor.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from xml.etree import ElementTree as ET

import numpy as np
import pytest
from alembic import command
from cryptography.fernet import Fernet, InvalidToken
from privacy_fixtures import (
    ADDRESS,
    AFTER_RETENTION,
    EMAIL,
    ENDED,
    NAME,
    PASSWORD,
    PHONE,
    WITHIN_RETENTION,
    build_store,
    customer_row,
)
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from coflex.adapters import greenbutton
from coflex.adapters.store import crypto
from coflex.adapters.store.database import (
    alembic_config,
    migrate,
    open_engine,
    session_factory,
    transaction,
)
from coflex.adapters.store.models import (
    Consent,
    Contract,
    Event,
    MeterDay,
    Notice,
    Settlement,
    Statement,
)
from coflex.adapters.store.models_governance import AuditEntry, PrivacyRequest
from coflex.adapters.store.models_web import Account
from coflex.domain.programs import ProgramTerms
from coflex.errors import InputError, KeyConfigError, NotFoundError
from coflex.services import (
    audit,
    compliance_checks,
    privacy_export,
    privacy_keys,
    privacy_requests,
)
from coflex.services.accounts import authenticate


@pytest.fixture
def factory(database_url: str) -> Iterator[sessionmaker[Session]]:
    """A store with one customer whose contract ended in 2021."""
    yield from build_store(database_url, ENDED)


@pytest.fixture
def active_factory(database_url: str) -> Iterator[sessionmaker[Session]]:
    """A store with one customer whose contract still runs."""
    yield from build_store(database_url, None)


ALL_DAYS = privacy_export.DateRange()


def _export(factory, export_format, days=ALL_DAYS):  # type: ignore[no-untyped-def]
    with transaction(factory) as session:
        return privacy_export.export_customer(
            session,
            customer_row(session),
            export_format,
            days,
            actor="test",
            at=datetime(2026, 1, 1, tzinfo=UTC),
        )


def _stored_kwh(factory) -> float:  # type: ignore[no-untyped-def]
    with factory() as session:
        rows = session.scalars(select(MeterDay.energy_kwh)).all()
    return float(
        sum(np.frombuffer(r, dtype=np.float32).astype(np.float64).sum() for r in rows)
    )


# -- export ----------------------------------------------------------------------


def test_json_export_round_trip(factory) -> None:  # type: ignore[no-untyped-def]
    result = _export(factory, privacy_export.ExportFormat.JSON)
    document = json.loads(result.content)
    records = document["records"]
    assert document["identity"]["name"] == NAME
    assert document["identity"]["postal_address"] == ADDRESS
    assert "email_hmac" not in document["identity"]
    assert all("password_hash" not in a for a in records["accounts"])
    assert len(records["contracts"]) == 1
    assert records["contracts"][0]["terms_hash"] == ProgramTerms().parameters_hash()
    assert len(records["consents"]) == 1
    assert len(records["notices"]) == 1
    assert len(records["settlements"]) == 1
    assert len(records["statements"]) == 1
    assert len(records["meter_readings"]) == 192
    exported = sum(r["energy_kwh"] for r in records["meter_readings"])
    assert exported == pytest.approx(_stored_kwh(factory), rel=1e-9)
    assert document["findings"] == []


def test_export_is_recorded(factory) -> None:  # type: ignore[no-untyped-def]
    result = _export(factory, privacy_export.ExportFormat.JSON)
    with factory() as session:
        entry = session.scalar(
            select(AuditEntry).where(AuditEntry.action == "privacy_export")
        )
        requests = session.scalars(select(PrivacyRequest.kind)).all()
        chain = audit.verify(session)
    assert entry is not None
    assert entry.details["sha256"] == result.sha256
    assert requests == ["export"]
    assert chain.intact


def test_csv_export_has_one_file_per_kind(factory) -> None:  # type: ignore[no-untyped-def]
    result = _export(factory, privacy_export.ExportFormat.CSV)
    archive = zipfile.ZipFile(io.BytesIO(result.content))
    names = set(archive.namelist())
    assert {"identity.csv", "contracts.csv", "meter_readings.csv"} <= names
    identity = list(csv.DictReader(io.StringIO(archive.read("identity.csv").decode())))
    assert identity[0]["email"] == EMAIL
    readings = list(
        csv.DictReader(io.StringIO(archive.read("meter_readings.csv").decode()))
    )
    assert len(readings) == 192


def test_empty_range_gives_finding(factory) -> None:  # type: ignore[no-untyped-def]
    days = privacy_export.DateRange(date(2019, 1, 1), date(2019, 1, 31))
    result = _export(factory, privacy_export.ExportFormat.JSON, days)
    document = json.loads(result.content)
    assert document["records"]["meter_readings"] == []
    assert "2019-01-01 to 2019-01-31" in document["findings"][0]


def test_green_button_empty_range_rejected(factory) -> None:  # type: ignore[no-untyped-def]
    days = privacy_export.DateRange(date(2019, 1, 1), date(2019, 1, 31))
    with pytest.raises(NotFoundError, match="no interval meter data"):
        _export(factory, privacy_export.ExportFormat.GREEN_BUTTON, days)


def test_reversed_range_rejected() -> None:
    with pytest.raises(InputError, match="before it starts"):
        privacy_export.DateRange(date(2020, 2, 1), date(2020, 1, 1))


def test_green_button_sums_match(factory) -> None:  # type: ignore[no-untyped-def]
    """ESPI IntervalReading values [mWh] sum to the stored interval energy."""
    result = _export(factory, privacy_export.ExportFormat.GREEN_BUTTON)
    root = ET.fromstring(result.content)
    espi = {"espi": greenbutton.ESPI_NS, "atom": greenbutton.ATOM_NS}
    assert root.tag == f"{{{greenbutton.ATOM_NS}}}feed"
    assert root.findall(".//espi:UsagePoint", espi)
    assert root.findall(".//espi:MeterReading", espi)
    reading_type = root.find(".//espi:ReadingType", espi)
    assert reading_type is not None
    assert reading_type.findtext("espi:uom", namespaces=espi) == "72"
    assert reading_type.findtext("espi:powerOfTenMultiplier", namespaces=espi) == "-3"
    assert reading_type.findtext("espi:intervalLength", namespaces=espi) == "900"
    blocks = root.findall(".//espi:IntervalBlock", espi)
    assert len(blocks) == 2
    values = [
        int(v.text or "")
        for v in root.iterfind(".//espi:IntervalReading/espi:value", espi)
    ]
    assert len(values) == 192
    stored_mwh = _stored_kwh(factory) * greenbutton.MWH_PER_KWH
    # Each value is rounded to a whole mWh.
    assert abs(sum(values) - stored_mwh) <= 0.5 * len(values)
    first = blocks[0].find("espi:interval/espi:start", espi)
    assert first is not None
    local_midnight = datetime(2020, 7, 1, 4, tzinfo=UTC)  # EDT is UTC-4
    assert int(first.text or "") == int(local_midnight.timestamp())


# -- correction ------------------------------------------------------------------


def test_correction_audited_by_hash(factory) -> None:  # type: ignore[no-untyped-def]
    new_name = "Ada Lovelace"
    with transaction(factory) as session:
        fields = privacy_requests.correct(
            session,
            customer_row(session),
            {"name": new_name, "email": "ada@example.org"},
            actor="customer:1",
            at=datetime(2026, 1, 1, tzinfo=UTC),
        )
    with factory() as session:
        customer = customer_row(session)
        account = session.scalar(select(Account))
        entry = session.scalar(
            select(AuditEntry).where(AuditEntry.action == "personal_data_corrected")
        )
        chain = audit.verify(session)
        personal = compliance_checks.privacy(session)[1]
    assert fields == ["email", "name"]
    assert customer.name == new_name
    assert account is not None
    assert account.display_name == new_name
    assert entry is not None
    logged = json.dumps(entry.details)
    for plain in (NAME, new_name, EMAIL, "ada@example.org"):
        assert plain not in logged
    changes = {c["field"]: c for c in entry.details["changes"]}
    assert changes["name"]["before_hmac"] == privacy_requests.keyed_hash("name", NAME)
    assert changes["name"]["after_hmac"] == privacy_requests.keyed_hash(
        "name", new_name
    )
    assert set(changes) == {"email", "name"}
    assert personal.key == "no_personal_data_in_audit_log"
    assert personal.violations == 0
    assert chain.intact


def test_correction_invalid_email_rejected(factory) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InputError, match="email address is not valid"):
        with transaction(factory) as session:
            privacy_requests.correct(
                session,
                customer_row(session),
                {"email": "not-an-address"},
                actor="t",
                at=datetime(2026, 1, 1, tzinfo=UTC),
            )
    with factory() as session:
        assert customer_row(session).email == EMAIL


def test_correction_keeps_preferred_contact(factory) -> None:  # type: ignore[no-untyped-def]
    with factory() as session:
        channel = customer_row(session).preferred_channel
    field = {"email": "email", "sms": "phone"}.get(channel)
    if field is None:
        pytest.skip(f"the fixture customer prefers {channel}")
    with pytest.raises(InputError, match="preferred channel"):
        with transaction(factory) as session:
            privacy_requests.correct(
                session,
                customer_row(session),
                {field: ""},
                actor="t",
                at=datetime(2026, 1, 1, tzinfo=UTC),
            )
    with factory() as session:
        assert getattr(customer_row(session), field)


def test_sign_in_by_email(factory) -> None:  # type: ignore[no-untyped-def]
    with factory() as session:
        account = authenticate(session, "  Ada.Quintero@Example.org", PASSWORD)
        assert account.username == "ada"


# -- deletion --------------------------------------------------------------------


def _delete(factory, at):  # type: ignore[no-untyped-def]
    with transaction(factory) as session:
        return privacy_requests.delete_customer(
            session, customer_row(session), actor="customer:1", at=at
        )


def test_deletion_within_retention_anonymises(active_factory) -> None:  # type: ignore[no-untyped-def]
    """Contracts, statements and settlements stay, under a pseudonym."""
    result = _delete(active_factory, WITHIN_RETENTION)
    with active_factory() as session:
        customer = customer_row(session)
        statement = session.scalar(select(Statement))
        settlements = session.scalars(select(Settlement)).all()
        contracts = session.scalars(select(Contract)).all()
        notice = session.scalar(select(Notice))
        meter_days = session.scalars(select(MeterDay)).all()
        account = session.scalar(select(Account))
        consent = session.scalar(select(Consent))
    assert customer.name == result.pseudonym
    assert customer.email is None
    assert customer.email_hmac is None
    assert customer.phone is None
    assert customer.postal_address is None
    assert len(contracts) == 1
    assert len(settlements) == 1
    assert statement is not None
    assert NAME not in statement.html
    assert result.pseudonym in statement.html
    assert "contracts" in result.kept
    assert "statements" in result.kept
    assert notice is not None
    assert NAME not in notice.body
    assert meter_days == []
    assert consent is not None
    assert consent.revoked_at is not None
    assert account is not None
    assert account.disabled_at is not None
    assert account.display_name == result.pseudonym


def test_deletion_after_retention_erases(factory) -> None:  # type: ignore[no-untyped-def]
    result = _delete(factory, AFTER_RETENTION)
    with factory() as session:
        statements = session.scalars(select(Statement)).all()
        notices = session.scalars(select(Notice)).all()
        contracts = session.scalars(select(Contract)).all()
        kinds = session.scalars(select(PrivacyRequest.kind)).all()
    assert statements == []
    assert notices == []
    assert len(contracts) == 1
    assert result.erased["statements"] == 1
    assert kinds == ["delete"]


def test_deletion_refused_while_event_runs(active_factory) -> None:  # type: ignore[no-untyped-def]
    with transaction(active_factory) as session:
        event = session.scalar(select(Event))
        assert event is not None
        event.status = "running"
    with pytest.raises(privacy_requests.DeletionBlocked, match="takes part in event"):
        _delete(active_factory, WITHIN_RETENTION)
    with active_factory() as session:
        assert customer_row(session).name == NAME


# -- encryption at rest ----------------------------------------------------------


def _raw(factory, sql: str) -> list[str]:  # type: ignore[no-untyped-def]
    with factory() as session:
        return [str(v) for v in session.execute(text(sql)).scalars()]


def test_raw_columns_hold_ciphertext(factory) -> None:  # type: ignore[no-untyped-def]
    raw = _raw(
        factory, "SELECT name || email || phone || postal_address FROM customers"
    )
    assert raw
    for plain in (NAME, EMAIL, PHONE, ADDRESS):
        assert all(plain not in v for v in raw), plain
    display = _raw(factory, "SELECT display_name FROM accounts")
    assert display
    assert NAME not in display[0]
    assert display[0].startswith("gAAAAA")  # the Fernet version byte, base64


def test_key_rotation_reencrypts(
    factory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """Rows written under the old key read back after rotating and dropping it."""
    old_key = crypto.load_keyring()
    key_file = tmp_path / "keys" / "data-keys"
    original = crypto.os.environ[crypto.KEYS_ENV].split(",")
    crypto.write_key_file(key_file, [k.encode() for k in original])
    monkeypatch.delenv(crypto.KEYS_ENV)
    monkeypatch.setenv(crypto.KEY_FILE_ENV, str(key_file))
    before = _raw(factory, "SELECT name FROM customers")

    rotation = privacy_keys.rotate_keys(
        factory, actor="test", at=datetime(2026, 1, 1, tzinfo=UTC), drop_old=True
    )
    after = _raw(factory, "SELECT name FROM customers")
    keys = crypto.read_keys(key_file)
    assert rotation.rows_reencrypted >= 2
    assert len(keys) == 1
    assert keys[0].decode() not in original
    assert before != after
    with pytest.raises(InvalidToken):
        old_key.fernet.decrypt(after[0].encode())
    with factory() as session:
        assert customer_row(session).name == NAME
        assert authenticate(session, EMAIL, PASSWORD).username == "ada"
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"


def test_missing_key_gives_clear_error(
    factory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv(crypto.KEYS_ENV)
    monkeypatch.setenv(crypto.KEY_FILE_ENV, str(tmp_path / "absent"))
    with pytest.raises(KeyConfigError, match="no data encryption key") as caught:
        crypto.load_keyring()
    assert "coflex privacy keygen" in caught.value.message


def test_wrong_key_gives_clear_error(factory, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv(crypto.KEYS_ENV, Fernet.generate_key().decode())
    with pytest.raises(KeyConfigError, match="does not decrypt"):
        with factory() as session:
            customer_row(session)


def test_migration_encrypts_existing_rows(database_url: str) -> None:
    """privacy_0001 widens the columns and encrypts rows stored in clear."""
    engine = open_engine(database_url)
    config = alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "web_0001")
        command.upgrade(config, "enrollment_0001")
    created = "2020-03-01 00:00:00"
    long_name = "N" * 200  # the old column width, longer once encrypted
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO aggregators (name, jurisdiction, registration_number, "
                "registered_at) VALUES ('a', 'US-NC', 'r', :at)"
            ),
            {"at": created},
        )
        connection.execute(
            text(
                "INSERT INTO customers (aggregator_id, reference, name, email, phone, "
                "preferred_channel, created_at) "
                "VALUES (1, 'A1-C000001', :name, :email, :phone, 'sms', :at)"
            ),
            {"name": long_name, "email": EMAIL, "phone": PHONE, "at": created},
        )

    migrate(engine)
    factory = session_factory(engine)
    raw = _raw(factory, "SELECT name || email || phone FROM customers")
    with factory() as session:
        customer = customer_row(session)
    engine.dispose()
    assert long_name not in raw[0]
    assert EMAIL not in raw[0]
    assert customer.name == long_name
    assert customer.email == EMAIL
    assert customer.email_hmac == crypto.lookup_hash(EMAIL)
