"""Signed audit anchors on SQLite and PostgreSQL: deleted tail, rewrite, forgery.

NIST SP 800-92 section 4.2 recommends log integrity protection kept apart
from the logs. Each test tampers with the database as an attacker with DDL rights
could and checks that the anchors file shows it, naming the sequence number.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from audit_tampering import allow_tampering
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import text

from coflex.adapters import signing
from coflex.adapters.store.database import (
    migrate,
    open_engine,
    session_factory,
    transaction,
)
from coflex.errors import InputError
from coflex.services import audit, audit_anchors

T0 = datetime(2026, 7, 21, 15, 0, tzinfo=UTC)


@pytest.fixture
def factory(database_url: str):  # type: ignore[no-untyped-def]
    engine = open_engine(database_url)
    migrate(engine)
    yield session_factory(engine)
    engine.dispose()


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def _fill(factory, count: int, offset: int = 0) -> None:  # type: ignore[no-untyped-def]
    records = [
        audit.AuditRecord(
            at=T0 + timedelta(seconds=offset + i),
            action="command_curtail",
            subject=f"device:{offset + i}",
            details={"value": 0.5, "reason": "event_start"},
            event_id=7,
        )
        for i in range(count)
    ]
    with transaction(factory) as session:
        audit.append(session, records)


def _anchor(factory, path: Path, key: Ed25519PrivateKey) -> audit_anchors.Anchor:  # type: ignore[no-untyped-def]
    with factory() as session:
        return audit_anchors.write_anchor(session, path, key, T0 + timedelta(hours=1))


def _check(factory, path: Path, key: Ed25519PrivateKey) -> audit_anchors.AnchorCheck:  # type: ignore[no-untyped-def]
    with factory() as session:
        return audit_anchors.verify_with_anchors(session, path, key.public_key())


def _rewrite_and_rehash(factory, seq: int, subject: str) -> None:  # type: ignore[no-untyped-def]
    """Change one row and recompute every later hash, so the chain verifies."""
    with transaction(factory) as session:
        allow_tampering(session)
        rows = session.query(audit.AuditEntry).order_by(audit.AuditEntry.seq).all()
        prev = audit.GENESIS_HASH
        for row in rows:
            if row.seq == seq:
                row.subject = subject
            row.prev_hash = prev
            row.row_hash = audit.chain_hash(prev, audit._fields(row.seq, row))
            prev = row.row_hash


def test_anchored_log_verifies(factory, key, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    anchors = tmp_path / "anchors.jsonl"
    _fill(factory, 5)
    first = _anchor(factory, anchors, key)
    _fill(factory, 3, offset=5)
    second = _anchor(factory, anchors, key)
    check = _check(factory, anchors, key)
    assert first.seq == 5
    assert second.seq == 8
    assert check.anchors_checked == 2
    assert check.findings == []
    assert len(anchors.read_text().splitlines()) == 2


def test_deleted_tail_found(factory, key, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    anchors = tmp_path / "anchors.jsonl"
    _fill(factory, 12)
    _anchor(factory, anchors, key)
    with transaction(factory) as session:
        allow_tampering(session)
        session.execute(text("DELETE FROM audit_log WHERE seq >= 10"))
    with factory() as session:
        assert audit.verify(session).intact  # the chain alone cannot tell
    check = _check(factory, anchors, key)
    assert [f.kind for f in check.findings] == ["tail_deleted"]
    assert check.findings[0].seq == 12
    assert "rows 10 to 12 are missing" in check.findings[0].message


def test_rehashed_rewrite_found(factory, key, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    anchors = tmp_path / "anchors.jsonl"
    _fill(factory, 8)
    _anchor(factory, anchors, key)
    _fill(factory, 4, offset=8)
    _anchor(factory, anchors, key)
    _rewrite_and_rehash(factory, 10, "device:999")
    with factory() as session:
        assert audit.verify(session).intact
    check = _check(factory, anchors, key)
    assert [f.kind for f in check.findings] == ["row_rewritten"]
    assert check.findings[0].seq == 12
    assert "from seq 9 to 12" in check.findings[0].message


def test_edited_row_named_by_chain(factory, key, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    anchors = tmp_path / "anchors.jsonl"
    _fill(factory, 6)
    _anchor(factory, anchors, key)
    with transaction(factory) as session:
        allow_tampering(session)
        session.execute(text("UPDATE audit_log SET actor = 'x' WHERE seq = 3"))
    check = _check(factory, anchors, key)
    assert check.findings[0].kind == "chain_broken"
    assert check.findings[0].seq == 3


def test_forged_anchor_found(factory, key, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    anchors = tmp_path / "anchors.jsonl"
    _fill(factory, 4)
    _anchor(factory, anchors, key)
    # A forger signs a checkpoint with a key of their own ...
    with factory() as session:
        audit_anchors.write_anchor(
            session, tmp_path / "other.jsonl", Ed25519PrivateKey.generate(), T0
        )
    forged_line = (tmp_path / "other.jsonl").read_text()
    # ... or edits the hash of a genuine line.
    genuine = json.loads(anchors.read_text())
    genuine["head_hash"] = "f" * 64
    with anchors.open("a") as handle:
        handle.write(forged_line)
        handle.write(json.dumps(genuine) + "\n")
        handle.write("not json\n")
    check = _check(factory, anchors, key)
    kinds = [f.kind for f in check.findings]
    assert kinds == ["anchor_forged", "anchor_forged", "anchor_unreadable"]
    assert check.findings[0].seq == 4
    assert "line 2" in check.findings[0].message
    assert "line 4" in check.findings[2].message
    assert check.anchors_checked == 1


def test_anchor_rejected_after_truncation(factory, key, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    anchors = tmp_path / "anchors.jsonl"
    _fill(factory, 6)
    _anchor(factory, anchors, key)
    with transaction(factory) as session:
        allow_tampering(session)
        session.execute(text("DELETE FROM audit_log WHERE seq = 6"))
    with pytest.raises(InputError, match="rows 6 to 6 are missing"):
        _anchor(factory, anchors, key)
    assert len(anchors.read_text().splitlines()) == 1


def test_anchor_rejected_on_broken_chain(factory, key, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _fill(factory, 4)
    with transaction(factory) as session:
        allow_tampering(session)
        session.execute(text("UPDATE audit_log SET actor = 'x' WHERE seq = 2"))
    with pytest.raises(InputError, match="broken at seq 2"):
        _anchor(factory, tmp_path / "anchors.jsonl", key)
    assert not (tmp_path / "anchors.jsonl").exists()


def _coflex(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "COLUMNS": "200", **env}
    return subprocess.run(
        [sys.executable, "-m", "coflex.entrypoints.cli", *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_cli_anchor_and_verify(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'coflex.sqlite'}"
    engine = open_engine(database)
    migrate(engine)
    factory = session_factory(engine)
    _fill(factory, 5)
    key_file = tmp_path / "keys" / "signing.pem"
    signing.generate_key(key_file)
    env = {
        "COFLEX_DATABASE_URL": database,
        "COFLEX_SIGNING_KEY_FILE": str(key_file),
        "COFLEX_AUDIT_ANCHORS": str(tmp_path / "anchors.jsonl"),
    }
    anchored = _coflex("audit", "anchor", env=env)
    assert anchored.returncode == 0, anchored.stderr
    assert "anchored seq 5" in anchored.stdout
    public = str(signing.public_path(key_file))
    intact = _coflex("audit", "verify", "--public-key", public, env=env)
    assert intact.returncode == 0, intact.stdout + intact.stderr
    assert "1 anchors match" in intact.stdout
    with transaction(factory) as session:
        allow_tampering(session)
        session.execute(text("DELETE FROM audit_log WHERE seq = 5"))
    engine.dispose()
    broken = _coflex("audit", "verify", "--public-key", public, env=env)
    assert broken.returncode == 1
    assert "FAIL tail_deleted: rows 5 to 5 are missing" in broken.stdout


@pytest.mark.slow
def test_demo_anchors_twice(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'demo.sqlite'}"
    key_file = tmp_path / "keys" / "signing.pem"
    signing.generate_key(key_file)
    anchors = tmp_path / "anchors.jsonl"
    env = {
        "COFLEX_SIGNING_KEY_FILE": str(key_file),
        "COFLEX_AUDIT_ANCHORS": str(anchors),
    }
    demo = _coflex(
        "demo", "--customers", "20", "--quiet", "--database", database,
        "--output", str(tmp_path / "out"), env=env,
    )
    assert demo.returncode == 0, demo.stderr
    lines = [json.loads(line) for line in anchors.read_text().splitlines()]
    assert len(lines) == 2
    assert lines[0]["seq"] < lines[1]["seq"]
    check = _coflex("audit", "verify", "--database", database, env=env)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "2 anchors match" in check.stdout


def test_schedule_anchors_until_stopped(factory, key, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    anchors = tmp_path / "anchors.jsonl"
    _fill(factory, 3)
    schedule = audit_anchors.AnchorSchedule(factory, (anchors, key), interval_s=0.05)
    schedule.start()
    # Wait for the condition, not for a time: the machine may be slow.
    for _ in range(2000):
        if anchors.exists() and len(anchors.read_text().splitlines()) >= 2:
            break
        schedule.stopped.wait(0.05)
    schedule.stop()
    assert not schedule.is_alive()
    check = _check(factory, anchors, key)
    assert check.anchors_checked >= 2
    assert check.findings == []


def test_schedule_rejects_bad_interval(factory, key, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv(audit_anchors.INTERVAL_ENV, "hourly")
    with pytest.raises(InputError, match="not a positive number of seconds"):
        audit_anchors.start_schedule(factory, (tmp_path / "a.jsonl", key))


def test_web_server_anchors(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    from coflex.entrypoints.web.app import create_app

    database = f"sqlite:///{tmp_path / 'coflex.sqlite'}"
    key_file = tmp_path / "keys" / "signing.pem"
    signing.generate_key(key_file)
    anchors = tmp_path / "anchors.jsonl"
    monkeypatch.setenv("COFLEX_SIGNING_KEY_FILE", str(key_file))
    monkeypatch.setenv(audit_anchors.ANCHORS_ENV, str(anchors))
    app = create_app(database)
    with TestClient(app):
        for _ in range(2000):
            if anchors.exists() and anchors.read_text():
                break
            threading.Event().wait(0.05)
    lines = anchors.read_text().splitlines()
    assert len(lines) >= 1
    assert json.loads(lines[0])["seq"] == 0
