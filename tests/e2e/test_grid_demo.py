"""`coflex grid-demo` runs a grid operator's request sent to `POST /api/v1/...`.

The command enrolls a simulated fleet and waits. The test sends the request
through the web app on the same SQLite file, as `coflex serve` would. The
command then plans and runs the event to its end.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from coflex.entrypoints.web.app import create_app

BASE_URL = "https://testserver"


@pytest.mark.slow
def test_api_request_runs_on_fleet(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'coflex.sqlite'}"
    credentials = tmp_path / "out" / "credentials.txt"
    command = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "coflex.entrypoints.cli",
            "grid-demo",
            "--customers",
            "12",
            "--database",
            url,
            "--output",
            str(tmp_path / "out"),
            "--wait",
            "300",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200", "PYTHONWARNINGS": "ignore"},
    )
    try:
        deadline = time.monotonic() + 300
        while not credentials.exists() and command.poll() is None:
            assert time.monotonic() < deadline, "grid-demo did not get ready"
            time.sleep(0.5)
        time.sleep(0.5)
        lines = [line.split("\t") for line in credentials.read_text().splitlines()]
        password = next(row[2] for row in lines if row[0] == "grid_operator")
        start = (datetime.now(UTC) + timedelta(hours=2, minutes=15)).replace(
            microsecond=0
        )
        with TestClient(create_app(url), base_url=BASE_URL) as client:
            token = client.post(
                "/api/v1/tokens",
                json={"username": "grid-operator", "password": password},
            ).json()["token"]
            headers = {"Authorization": f"Bearer {token}"}
            reply = client.post(
                "/api/v1/flexibility-requests",
                json={
                    "program_id": 1,
                    "start": start.isoformat(),
                    "end": (start + timedelta(hours=1)).isoformat(),
                    "target_kw": 8.0,
                    "event_class": "reliability",
                },
                headers=headers,
            )
            assert reply.status_code == 201, reply.text
            event_id = reply.json()["event_id"]
            stdout, stderr = command.communicate(timeout=600)
            event = client.get(f"/api/v1/events/{event_id}", headers=headers).json()
    finally:
        if command.poll() is None:
            command.terminate()
            command.wait(timeout=30)
    assert command.returncode == 0, stderr
    assert f"Event {event_id}: ended." in stdout
    assert event["status"] == "ended"


@pytest.mark.slow
def test_no_request_times_out(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "coflex.entrypoints.cli",
            "grid-demo",
            "--customers",
            "5",
            "--database",
            f"sqlite:///{tmp_path / 'coflex.sqlite'}",
            "--output",
            str(tmp_path / "out"),
            "--wait",
            "1",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200", "PYTHONWARNINGS": "ignore"},
        timeout=600,
    )
    assert done.returncode == 2
    assert "no flexibility request arrived within 1 s" in done.stderr
