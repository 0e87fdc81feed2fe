"""The ``coflex`` command as a user runs it: the demo, and bad input.

Bad input gets one line naming the value and the fix, exit status 2, and
leaves the database untouched.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

PVLIB_TMY3 = Path(__import__("pvlib").__file__).parent / "data" / "723170TYA.CSV"


def coflex(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    environment = {**os.environ, "COLUMNS": "200", **(env or {})}
    environment.pop("COFLEX_DATABASE_URL", None)
    if env and "COFLEX_DATABASE_URL" in env:
        environment["COFLEX_DATABASE_URL"] = env["COFLEX_DATABASE_URL"]
    return subprocess.run(
        [sys.executable, "-m", "coflex.entrypoints.cli", *args],
        cwd=cwd, env=environment, capture_output=True, text=True, timeout=600,
    )


@pytest.mark.slow
def test_demo_writes_outputs(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'demo.sqlite'}"
    result = coflex(
        "demo", "--customers", "40", "--seed", "7", "--database", database,
        "--output", str(tmp_path / "out"), cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    for key in (
        "requested_kw", "delivered_kw", "customers", "eligible", "dispatched", "excluded",
        "overrides", "notices_late_dispatched", "safety_violations", "statements", "database",
    ):
        assert key in summary
    assert summary["customers"] == 40
    assert summary["notices_late_dispatched"] == 0
    assert summary["safety_violations"] == 0
    assert (tmp_path / "out" / "event-report.html").exists()
    statements = list((tmp_path / "out" / "customers").glob("*/statement.html"))
    assert len(statements) == summary["statements"] > 0
    assert "Running the event" in result.stdout


@pytest.mark.slow
def test_demo_repeatable_with_seed(tmp_path: Path) -> None:
    outputs = []
    for run in ("a", "b"):
        result = coflex(
            "demo", "--customers", "25", "--seed", "11", "--quiet",
            "--database", f"sqlite:///{tmp_path / run}.sqlite",
            "--output", str(tmp_path / run), cwd=tmp_path,
        )
        assert result.returncode == 0, result.stderr
        summary = json.loads((tmp_path / run / "summary.json").read_text())
        summary.pop("seconds")
        summary.pop("database")
        outputs.append(summary)
    assert outputs[0] == outputs[1]


@pytest.mark.slow
def test_database_from_environment(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'env.sqlite'}"
    result = coflex(
        "demo", "--customers", "20", "--quiet", "--output", str(tmp_path / "out"),
        cwd=tmp_path, env={"COFLEX_DATABASE_URL": database},
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "env.sqlite").exists()


def _thirty_minute_file(tmp_path: Path) -> Path:
    lines = PVLIB_TMY3.read_text().splitlines()
    header, rows = lines[:2], lines[2:]
    doubled = []
    for row in rows:
        fields = row.split(",")
        hour = int(fields[1].split(":")[0])
        fields[1] = f"{hour - 1:02d}:30"
        doubled.append(",".join(fields))
        doubled.append(row)
    path = tmp_path / "half-hourly.csv"
    path.write_text("\n".join(header + doubled) + "\n")
    return path


def _edited_tmy3(tmp_path: Path, name: str, change, rows: int | None = None) -> Path:  # type: ignore[no-untyped-def]
    """Write pvlib's TMY3 file with its dry-bulb column (field 31) changed."""
    lines = PVLIB_TMY3.read_text().splitlines()
    edited = lines[:2]
    for number, row in enumerate(lines[2:]):
        fields = row.split(",")
        if rows is None or number < rows:
            fields[31] = change(fields[31])
        edited.append(",".join(fields))
    path = tmp_path / name
    path.write_text("\n".join(edited) + "\n")
    return path


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


BAD_INPUT = {
    "missing weather file": (["--weather", "{tmp}/nowhere.csv"], "nowhere.csv"),
    "malformed weather file": (["--weather", "{tmp}/garbage.csv"], "garbage.csv"),
    "wrong resolution": (["--weather", "{tmp}/half-hourly.csv"], "30-minute"),
    "weather alerts not GeoJSON": (
        ["--weather-alerts", "{tmp}/garbage.csv"],
        "neither JSON nor XML",
    ),
    "end before start": (
        ["--event-start", "2026-07-21T15:00", "--event-end", "2026-07-21T14:00"],
        "not after its start",
    ),
    "target not positive": (["--target-kw", "0"], "not a positive"),
    "target infinite": (["--target-kw", "inf"], "not a positive"),
    "window too long": (
        ["--event-start", "2026-07-21T08:00", "--event-end", "2026-07-21T20:00"],
        "at most 4.00 h",
    ),
    "local time skipped by DST": (
        ["--event-start", "2026-03-08T02:30", "--event-end", "2026-03-08T04:00"],
        "does not exist",
    ),
    "non-numeric port": (
        ["--database", "postgresql://postgres@127.0.0.1:abc/x"], "invalid database URL"
    ),
    "text in temperature": (["--weather", "{tmp}/text-temperature.csv"], "not a number"),
    "temperature in kelvin": (["--weather", "{tmp}/kelvin.csv"], "its units"),
    "off the step grid": (
        ["--event-start", "2026-07-21T15:00", "--event-end", "2026-07-21T15:04"],
        "5-minute boundary",
    ),
    "negative target": (["--target-kw=-5"], "not a positive"),
    "unknown timezone": (["--timezone", "Mars/Olympus_Mons"], "Mars/Olympus_Mons"),
    "unreachable database": (
        ["--database", "postgresql://postgres@127.0.0.1:1/coflex"], "cannot reach"
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUT))
def test_bad_input_one_line(case: str, tmp_path: Path) -> None:
    _write(tmp_path, "garbage.csv", "this is not,a weather file\n1,2\n")
    _edited_tmy3(tmp_path, "text-temperature.csv", lambda value: "abc", rows=1)
    _edited_tmy3(tmp_path, "kelvin.csv", lambda value: f"{float(value) + 273.15:.1f}")
    _thirty_minute_file(tmp_path)
    arguments, words = BAD_INPUT[case]
    arguments = [a.replace("{tmp}", str(tmp_path)) for a in arguments]
    if "--database" not in arguments:
        arguments += ["--database", f"sqlite:///{tmp_path / 'untouched.sqlite'}"]
    result = coflex("demo", "--customers", "5", "--quiet", *arguments, cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert words in lines[0]
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "untouched.sqlite").exists()


def test_weather_helper_builds_half_hour_file(tmp_path: Path) -> None:
    frame = pd.read_csv(_thirty_minute_file(tmp_path), skiprows=1)
    assert len(frame) == 2 * 8760


def test_missing_database_not_created(tmp_path: Path) -> None:
    """Commands that read a store do not create an empty one at a mistyped path."""
    missing = tmp_path / "typo.sqlite"
    result = coflex("audit", "verify", "--database", f"sqlite:///{missing}", cwd=tmp_path)
    assert result.returncode == 2
    assert "not found" in result.stderr
    assert not missing.exists()
