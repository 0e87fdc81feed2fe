"""Crash safety: the event runner killed with SIGKILL at random moments, then resumed.

Each seed plans a short event with `coflex demo --stop-before-event`, then runs
`coflex event resume` in a real process and kills it at random moments until
a run finishes. The checks read the stored records afterwards: every notice
delivered exactly once, every command delivered and answered, no device under
control after the event end, no limit crossed, and the event's records whole.
"""

from __future__ import annotations

import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from sqlalchemy import func, select

from coflex.adapters.notices.ledger import read_ledger
from coflex.adapters.readers.weather import read_weather
from coflex.adapters.store.database import open_engine, session_factory, transaction
from coflex.adapters.store.models import (
    Baseline,
    DeviceCommand,
    EventReport,
    EventTrace,
    Notice,
    Participation,
    Statement,
)
from coflex.adapters.store.models_operations import CommandOutbox, EventCheckpoint
from coflex.services.demo import TERMS
from coflex.services.scenario import choose_scenario

TIMEZONE = "America/New_York"
EVENT_MINUTES = 20
KILLS = 4


def _coflex(*args: str) -> list[str]:
    return [sys.executable, "-m", "coflex.entrypoints.cli", *args]


def _window() -> tuple[str, str]:
    scenario = choose_scenario(
        read_weather(None), TIMEZONE, max_heat_index_c=TERMS.limits.heat_index_suspend_c
    )
    start = scenario.start.astimezone(ZoneInfo(TIMEZONE)).replace(tzinfo=None)
    end = start + timedelta(minutes=EVENT_MINUTES)
    return start.isoformat(), end.isoformat()


def _plan(url: str, output: Path, seed: int) -> None:
    start, end = _window()
    done = subprocess.run(
        _coflex(
            "demo", "--quiet", "--stop-before-event", "--database", url,
            "--output", str(output), "--customers", "12", "--seed", str(seed),
            "--override-share", "0.3", "--event-start", start, "--event-end", end,
        ),
        capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr


def _run_with_kills(url: str, event_id: int, rng: np.random.Generator) -> list[str]:
    """Kill the runner at random moments; return the stage each kill hit."""
    engine = open_engine(url)
    factory = session_factory(engine)
    hit = []
    for _ in range(KILLS):
        runner = subprocess.Popen(
            _coflex("event", "resume", "--quiet", "--database", url, "--event", str(event_id)),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        # Python and the imports take about a second before the first write.
        time.sleep(float(rng.uniform(1.0, 5.0)))
        if runner.poll() is not None:
            assert runner.returncode == 0
            break
        os.kill(runner.pid, signal.SIGKILL)
        runner.wait()
        with factory() as session:
            checkpoint = session.get(EventCheckpoint, event_id)
            hit.append(f"{checkpoint.stage}:{checkpoint.last_round}:{checkpoint.phase}")
    final = subprocess.run(
        _coflex("event", "resume", "--quiet", "--database", url, "--event", str(event_id)),
        capture_output=True, text=True, timeout=600,
    )
    assert final.returncode == 0, final.stderr
    engine.dispose()
    return hit


def _event_id(factory) -> int:  # type: ignore[no-untyped-def]
    with factory() as session:
        return int(session.scalar(select(EventCheckpoint.event_id)))


@pytest.fixture(scope="module")
def planned(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database with one planned event, before its first notice."""
    folder = tmp_path_factory.mktemp("planned")
    _plan(f"sqlite:///{folder / 'coflex.sqlite'}", folder / "out", seed=5)
    return folder


@pytest.mark.slow
@pytest.mark.parametrize("seed", [3, 11, 29])
def test_runner_survives_random_kills(planned: Path, tmp_path: Path, seed: int) -> None:
    shutil.copytree(planned, tmp_path, dirs_exist_ok=True)
    url = f"sqlite:///{tmp_path / 'coflex.sqlite'}"
    output = tmp_path / "out"
    engine = open_engine(url)
    factory = session_factory(engine)
    event_id = _event_id(factory)
    with transaction(factory) as session:
        # The copied job still names the planned folder; point it here.
        checkpoint = session.get(EventCheckpoint, event_id)
        job = pickle.loads(checkpoint.job)
        job.output_dir = output
        checkpoint.job = pickle.dumps(job)

    hit = _run_with_kills(url, event_id, np.random.default_rng(seed))
    print(f"seed {seed}: kills hit {hit}")

    with factory() as session:
        checkpoint = session.get(EventCheckpoint, event_id)
        assert checkpoint.stage == "done", hit
        notices = session.scalars(select(Notice).where(Notice.event_id == event_id)).all()
        outbox = session.scalars(
            select(CommandOutbox).where(CommandOutbox.event_id == event_id)
        ).all()
        commands = session.scalar(
            select(func.count()).select_from(DeviceCommand).where(
                DeviceCommand.event_id == event_id
            )
        )
        traces = session.scalars(
            select(EventTrace.at).where(EventTrace.event_id == event_id)
        ).all()
        dispatched = session.scalars(
            select(Participation).where(
                Participation.event_id == event_id,
                Participation.dispatched_at.is_not(None),
            )
        ).all()
        report = session.scalar(select(EventReport).where(EventReport.event_id == event_id))
        statements = session.scalar(
            select(func.count()).select_from(Statement).where(Statement.event_id == event_id)
        )
        baselines = session.scalar(
            select(func.count()).select_from(Baseline).where(Baseline.event_id == event_id)
        )
        state = pickle.loads(checkpoint.state)

    # Every pre-event notice and reminder is stored once and delivered once.
    keyed = [n for n in notices if n.idempotency_key is not None]
    assert keyed, "no notice went through the outbox"
    assert all(n.status != "pending" for n in keyed)
    ledger = [entry["key"] for entry in read_ledger(output / "notice-ledger.jsonl")]
    assert len(ledger) == len(set(ledger)), "a notice was delivered twice"
    assert sorted(ledger) == sorted(n.idempotency_key for n in keyed)

    # Every command decided was delivered, answered and recorded once.
    assert outbox
    assert all(row.status != "pending" for row in outbox)
    assert commands == len(outbox)
    assert len({row.idempotency_key for row in outbox}) == len(outbox)

    # No device stays under control after the event end.
    assert dispatched
    assert all(p.released_at is not None for p in dispatched)
    fleet = state["devices"]["fleet"]
    assert not state["under_control"].any()
    assert not fleet["hvac_offset"].any()
    assert np.isnan(fleet["battery_discharge"]).all()
    assert np.isnan(fleet["ev_limit"]).all()
    assert fleet["heater_enabled"].all()

    # No limit crossed, and the event's records are whole.
    assert report is not None
    assert report.summary["safety_violations"] == 0
    assert len(traces) == len(set(traces)) == EVENT_MINUTES
    assert statements == report.summary["dispatched"]
    assert baselines > 0
    engine.dispose()
