"""Crash safety: the event runner killed with SIGKILL at random moments, then resumed.

One short event is planned with `coflex demo --stop-before-event`. Each seed
runs `coflex event resume` in a real process and kills it with SIGKILL four
times. Each kill comes a random fraction of a second after the stored progress
passes a target drawn from the seed: after the first notices, in two random
rounds of the run (the last round restores every device), and while settling.
A last resume runs the event to the end. The checks then read the stored
records: every notice delivered exactly once, every command delivered and
acknowledged or rejected, no device under control after the event end, no
limit crossed, and the event's records whole.
"""

from __future__ import annotations

import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from rich.progress import Progress
from sqlalchemy import func, select

from coflex.adapters.devices.simulated import SimulatedFleet
from coflex.adapters.notices.ledger import IdempotentChannels, read_ledger
from coflex.adapters.notices.simulated import SimulatedNoticeChannels
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
from coflex.services import demo, event_resume, events
from coflex.services.demo import TERMS
from coflex.services.override_inbox import PacedClock
from coflex.services.scenario import choose_scenario

TIMEZONE = "America/New_York"
EVENT_MINUTES = 20


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
            "demo",
            "--quiet",
            "--stop-before-event",
            "--database",
            url,
            "--output",
            str(output),
            "--customers",
            "12",
            "--seed",
            str(seed),
            "--override-share",
            "0.3",
            "--event-start",
            start,
            "--event-end",
            end,
        ),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr


STAGES = ("notify", "remind", "run", "settle", "done")


def _progress(factory, event_id: int, ledger: Path) -> tuple[int, int, int]:  # type: ignore[no-untyped-def]
    """Return how far the run got: stage, round, notices in the ledger."""
    with factory() as session:
        checkpoint = session.get(EventCheckpoint, event_id)
        stage, last_round = checkpoint.stage, checkpoint.last_round
    notices = len(read_ledger(ledger)) if ledger.exists() else 0
    return STAGES.index(stage), last_round, notices


def _targets(rng: np.random.Generator) -> list[tuple[int, int, int]]:
    """Pick where to kill: during the notices, in two random rounds, in settling."""
    rounds = sorted(rng.choice(np.arange(0, EVENT_MINUTES + 3), size=2, replace=False))
    return [
        (0, -1, int(rng.integers(1, 6))),  # after the first notices are delivered
        (2, int(rounds[0]), 0),
        (2, int(rounds[1]), 0),  # the last round restores every device
        (3, -1, 0),
    ]


def _run_with_kills(
    url: str, event_id: int, ledger: Path, rng: np.random.Generator
) -> list[tuple[int, int, int]]:
    """Kill the runner once it passes each target; return the progress at each kill."""
    engine = open_engine(url)
    factory = session_factory(engine)
    hit = []
    for target in _targets(rng):
        runner = subprocess.Popen(
            _coflex(
                "event",
                "resume",
                "--quiet",
                "--database",
                url,
                "--event",
                str(event_id),
            ),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        while runner.poll() is None and _progress(factory, event_id, ledger) < target:
            time.sleep(0.02)
        # A random extra moment puts the kill anywhere in the next transaction.
        time.sleep(float(rng.uniform(0.0, 0.3)))
        if runner.poll() is not None:
            assert runner.returncode == 0
            continue
        os.kill(runner.pid, signal.SIGKILL)
        runner.wait()
        hit.append(_progress(factory, event_id, ledger))
    final = subprocess.run(
        _coflex(
            "event", "resume", "--quiet", "--database", url, "--event", str(event_id)
        ),
        capture_output=True,
        text=True,
        timeout=600,
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


def _copy_planned(planned: Path, folder: Path):  # type: ignore[no-untyped-def]
    """Copy the planned database into ``folder``; return URL, engine, event and job."""
    shutil.copytree(planned, folder, dirs_exist_ok=True)
    url = f"sqlite:///{folder / 'coflex.sqlite'}"
    engine = open_engine(url)
    factory = session_factory(engine)
    event_id = _event_id(factory)
    with transaction(factory) as session:
        # The copied job still names the planned folder; point it here.
        checkpoint = session.get(EventCheckpoint, event_id)
        job = pickle.loads(checkpoint.job)
        job.output_dir = folder / "out"
        checkpoint.job = pickle.dumps(job)
    return url, engine, event_id, job


@pytest.mark.slow
@pytest.mark.parametrize("seed", [3, 11, 29])
def test_runner_survives_random_kills(planned: Path, tmp_path: Path, seed: int) -> None:
    url, engine, event_id, _ = _copy_planned(planned, tmp_path)
    factory = session_factory(engine)
    output = tmp_path / "out"

    ledger = output / "notice-ledger.jsonl"
    hit = _run_with_kills(url, event_id, ledger, np.random.default_rng(seed))
    print(f"seed {seed}: killed at (stage, round, notices) {hit}")
    assert hit, "the runner finished before any kill"

    with factory() as session:
        checkpoint = session.get(EventCheckpoint, event_id)
        assert checkpoint.stage == "done", hit
        notices = session.scalars(
            select(Notice).where(Notice.event_id == event_id)
        ).all()
        outbox = session.scalars(
            select(CommandOutbox).where(CommandOutbox.event_id == event_id)
        ).all()
        commands = session.scalar(
            select(func.count())
            .select_from(DeviceCommand)
            .where(DeviceCommand.event_id == event_id)
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
        report = session.scalar(
            select(EventReport).where(EventReport.event_id == event_id)
        )
        statements = session.scalar(
            select(func.count())
            .select_from(Statement)
            .where(Statement.event_id == event_id)
        )
        baselines = session.scalar(
            select(func.count())
            .select_from(Baseline)
            .where(Baseline.event_id == event_id)
        )
        state = event_resume.runner_state(checkpoint)

    # Every pre-event notice and reminder is stored once and delivered once.
    keyed = [n for n in notices if n.idempotency_key is not None]
    assert keyed, "no notice went through the outbox"
    assert all(n.status != "pending" for n in keyed)
    ledger = [entry["key"] for entry in read_ledger(output / "notice-ledger.jsonl")]
    assert len(ledger) == len(set(ledger)), "a notice was delivered twice"
    assert sorted(ledger) == sorted(n.idempotency_key for n in keyed)

    # Every command decided was delivered, acknowledged or rejected, and recorded once.
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


def _kill_at_round(url: str, event_id: int, round_number: int) -> None:
    engine = open_engine(url)
    factory = session_factory(engine)
    runner = subprocess.Popen(
        _coflex(
            "event", "resume", "--quiet", "--database", url, "--event", str(event_id)
        ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    target = (STAGES.index("run"), round_number, 0)
    while runner.poll() is None and _progress(factory, event_id, Path("-")) < target:
        time.sleep(0.02)
    assert runner.poll() is None, "the run ended before the kill"
    os.kill(runner.pid, signal.SIGKILL)
    runner.wait()
    engine.dispose()


@pytest.mark.slow
def test_resume_after_end_restores_devices(planned: Path, tmp_path: Path) -> None:
    """A runner resumed after the end of a live event restores and records why."""
    url, engine, event_id, job = _copy_planned(planned, tmp_path)
    factory = session_factory(engine)
    _kill_at_round(url, event_id, 6)

    # Make the stopped run a live one whose wall clock is a day past its start.
    with transaction(factory) as session:
        checkpoint = session.get(EventCheckpoint, event_id)
        devices = pickle.loads(checkpoint.devices)
        devices["clock"] = PacedClock(
            job.prepared.request.start, datetime.now(UTC) - timedelta(days=1), 1.0
        )
        checkpoint.devices = pickle.dumps(devices)
        under_control = int(pickle.loads(checkpoint.state)["under_control"].sum())
    final = subprocess.run(
        _coflex(
            "event", "resume", "--quiet", "--database", url, "--event", str(event_id)
        ),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert final.returncode == 0, final.stderr

    with factory() as session:
        checkpoint = session.get(EventCheckpoint, event_id)
        reasons = session.scalars(
            select(Participation.release_reason).where(
                Participation.event_id == event_id,
                Participation.release_reason == event_resume.RESUMED_AFTER_END,
            )
        ).all()
        traces = session.scalar(
            select(func.count())
            .select_from(EventTrace)
            .where(EventTrace.event_id == event_id)
        )
        pending = session.scalar(
            select(func.count())
            .select_from(CommandOutbox)
            .where(CommandOutbox.status == "pending")
        )
        state = event_resume.runner_state(checkpoint)
    assert under_control > 0
    assert len(reasons) == under_control
    assert checkpoint.note is not None
    assert "after the event end" in checkpoint.note
    assert checkpoint.stage == "done"
    assert traces < EVENT_MINUTES
    assert pending == 0
    assert not state["under_control"].any()
    engine.dispose()


class _Crash(Exception):
    """Stands for the runner process dying inside a channel call."""


class _CrashingChannels:
    """Simulated channels that fail on the notice after the first ``after``."""

    def __init__(self, after: int) -> None:
        self.inner = SimulatedNoticeChannels(np.random.default_rng(1))
        self.left = after

    def send(self, channels, sent_at):  # type: ignore[no-untyped-def]
        if self.left == 0:
            raise _Crash
        self.left -= 1
        return self.inner.send(channels, sent_at)


@pytest.mark.slow
def test_notices_sent_once_after_crash(planned: Path, tmp_path: Path) -> None:
    """A crash between delivering notices and storing receipts repeats none."""
    url, engine, event_id, job = _copy_planned(planned, tmp_path)
    factory = session_factory(engine)
    ledger = tmp_path / "ledger.jsonl"
    with pytest.raises(_Crash):
        crashing = IdempotentChannels(_CrashingChannels(after=5), ledger)
        events.send_notices(factory, event_id, job.prepared, crashing)
    with factory() as session:
        pending = session.scalar(
            select(func.count()).select_from(Notice).where(Notice.status == "pending")
        )
    # The batch's transaction rolled back, so the five delivered are pending too.
    assert pending > 5
    assert len(read_ledger(ledger)) == 5

    again = IdempotentChannels(
        SimulatedNoticeChannels(np.random.default_rng(2)), ledger
    )
    events.send_notices(factory, event_id, job.prepared, again)

    with factory() as session:
        notices = session.scalars(
            select(Notice).where(Notice.event_id == event_id)
        ).all()
    keys = [entry["key"] for entry in read_ledger(ledger)]
    assert again.repeats == 5
    assert len(keys) == len(set(keys))
    assert sorted(keys) == sorted(n.idempotency_key for n in notices)
    assert all(n.status != "pending" for n in notices)
    engine.dispose()


@pytest.mark.slow
def test_pending_commands_redelivered(
    planned: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Commands stored but not delivered when the runner dies go out on resume."""
    url, engine, event_id, _ = _copy_planned(planned, tmp_path)
    factory = session_factory(engine)
    deliver = SimulatedFleet.send
    calls = []

    def dies_on_third_delivery(self, commands, at):  # type: ignore[no-untyped-def]
        calls.append(len(commands))
        if len(calls) == 3:
            raise _Crash
        return deliver(self, commands, at)

    monkeypatch.setattr(SimulatedFleet, "send", dies_on_third_delivery)
    with Progress(disable=True) as progress, pytest.raises(_Crash):
        demo.run_stored_event(factory, event_id, progress)
    monkeypatch.setattr(SimulatedFleet, "send", deliver)
    with factory() as session:
        pending = session.scalar(
            select(func.count())
            .select_from(CommandOutbox)
            .where(CommandOutbox.status == "pending")
        )
    assert pending == calls[-1]

    with Progress(disable=True) as progress:
        demo.run_stored_event(factory, event_id, progress)

    with factory() as session:
        outbox = session.scalars(select(CommandOutbox)).all()
        commands = session.scalar(select(func.count()).select_from(DeviceCommand))
        checkpoint = session.get(EventCheckpoint, event_id)
        state = event_resume.runner_state(checkpoint)
    assert all(row.status != "pending" for row in outbox)
    assert commands == len(outbox)
    assert not state["under_control"].any()
    engine.dispose()
