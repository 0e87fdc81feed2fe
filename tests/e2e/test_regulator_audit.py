"""A regulator audit from end to end, through the CLI.

Run the demo on a small fleet, dispute one statement, export that customer's
records, verify the bundle offline, and find in it every record from the
contract and consent to the statement and the complaint about it.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def coflex(*args: str, cwd: Path, key: Path) -> subprocess.CompletedProcess:
    environment = {**os.environ, "COLUMNS": "200", "COFLEX_SIGNING_KEY_FILE": str(key)}
    environment.pop("COFLEX_DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "coflex.entrypoints.cli", *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
    )


def _load(bundle: Path, name: str) -> list[dict]:
    return json.loads((bundle / f"{name}.json").read_text())


@pytest.mark.slow
def test_customer_bundle_complete(tmp_path: Path) -> None:
    key = tmp_path / "keys" / "signing.pem"
    database = f"sqlite:///{tmp_path / 'demo.sqlite'}"
    run = lambda *a: coflex(*a, "--database", database, cwd=tmp_path, key=key)  # noqa: E731
    demo = run("demo", "--customers", "40", "--seed", "5", "--output", "out", "--quiet")
    assert demo.returncode == 0, demo.stderr
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    statements = (tmp_path / "out" / "customers").glob("*/statement.html")
    reference = sorted(p.parent.name for p in statements)[0]
    statement_ref = f"E{summary['event_id']}-{reference}"

    disputed = run(
        "complaints",
        "dispute",
        "--statement",
        statement_ref,
        "--summary",
        "My baseline looks too low.",
    )
    keygen = coflex("records", "keygen", "--output", str(key), cwd=tmp_path, key=key)
    bundle = tmp_path / "bundle"
    exported = run(
        "records", "export", "--customer", reference, "--output", str(bundle)
    )
    checked = coflex(
        "records", "verify", str(bundle), "--public-key", f"{key}.pub.pem",
        cwd=tmp_path, key=key,
    )
    chain = run("audit", "verify")
    assert disputed.returncode == 0, disputed.stderr
    assert keygen.returncode == 0, keygen.stderr
    assert exported.returncode == 0, exported.stderr
    assert checked.returncode == 0, checked.stdout
    assert chain.returncode == 0, chain.stdout

    customer = _load(bundle, "customers")[0]
    contract = _load(bundle, "contracts")[0]
    program = _load(bundle, "programs")[0]
    purposes = {c["purpose"] for c in _load(bundle, "consents")}
    notices = {n["kind"] for n in _load(bundle, "notices")}
    statement = _load(bundle, "statements")[0]
    complaint = _load(bundle, "complaints")[0]
    baseline = _load(bundle, "baselines")[0]
    trail = (bundle / "audit.jsonl").read_text().splitlines()
    actions = {json.loads(line)["action"] for line in trail}
    assert customer["reference"] == reference
    assert contract["program_id"] == program["id"]
    assert program["terms"]["limits"]
    assert {"service_delivery", "measurement"} <= purposes
    assert _load(bundle, "registrations")
    assert _load(bundle, "eligibility_decisions")
    assert notices == {"pre_event", "reminder", "after_event"}
    assert _load(bundle, "device_commands")
    assert len(baseline["baseline_kwh"]) >= 92
    assert _load(bundle, "meter_days")
    assert _load(bundle, "settlements")[0]["customer_id"] == customer["id"]
    assert complaint["statement_id"] == statement["id"]
    assert complaint["baseline_id"] == baseline["id"]
    html = (bundle / "statements" / f"{statement_ref}.html").read_bytes()
    assert hashlib.sha256(html).hexdigest() == statement["content_hash"]
    assert {"notice_pre_event", "statement_issued", "complaint_received"} <= actions


@pytest.mark.slow
def test_tampered_bundle_fails(tmp_path: Path) -> None:
    key = tmp_path / "keys" / "signing.pem"
    database = f"sqlite:///{tmp_path / 'demo.sqlite'}"
    run = lambda *a: coflex(*a, "--database", database, cwd=tmp_path, key=key)  # noqa: E731
    assert (
        run("demo", "--customers", "20", "--output", "out", "--quiet").returncode == 0
    )
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    coflex("records", "keygen", "--output", str(key), cwd=tmp_path, key=key)
    bundle = tmp_path / "bundle"
    exported = run(
        "records",
        "export",
        "--event",
        str(summary["event_id"]),
        "--output",
        str(bundle),
    )
    assert exported.returncode == 0, exported.stderr
    with (bundle / "overrides.json").open("a") as handle:
        handle.write(" ")
    checked = coflex(
        "records", "verify", str(bundle), "--public-key", f"{key}.pub.pem",
        cwd=tmp_path, key=key,
    )
    assert checked.returncode == 1
    assert "overrides.json does not match" in checked.stdout


    # A bundle re-signed with another key passes only against that key.
    forger = tmp_path / "keys" / "forger.pem"
    coflex("records", "keygen", "--output", str(forger), cwd=tmp_path, key=forger)
    forged = tmp_path / "forged"
    exported = coflex(
        "records", "export", "--event", str(summary["event_id"]), "--output",
        str(forged), "--database", database, cwd=tmp_path, key=forger,
    )
    assert exported.returncode == 0, exported.stderr
    against_filed = coflex(
        "records", "verify", str(forged), "--public-key", f"{key}.pub.pem",
        cwd=tmp_path, key=key,
    )
    without_key = coflex("records", "verify", str(forged), cwd=tmp_path, key=key)
    assert against_filed.returncode == 1
    assert without_key.returncode == 2
    assert "--public-key" in without_key.stderr


def test_empty_range_one_line(tmp_path: Path) -> None:
    key = tmp_path / "keys" / "signing.pem"
    assert (
        coflex(
            "records", "keygen", "--output", str(key), cwd=tmp_path, key=key
        ).returncode
        == 0
    )
    database = f"sqlite:///{tmp_path / 'empty.sqlite'}"
    created = coflex("db", "upgrade", "--database", database, cwd=tmp_path, key=key)
    assert created.returncode == 0, created.stderr
    result = coflex(
        "records",
        "export",
        "--from",
        "2001-01-01T00:00Z",
        "--to",
        "2001-02-01T00:00Z",
        "--output",
        str(tmp_path / "b"),
        "--database",
        database,
        cwd=tmp_path,
        key=key,
    )
    assert result.returncode == 2
    assert "no events or complaints" in result.stderr
    assert "Traceback" not in result.stderr
