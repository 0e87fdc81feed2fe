"""Load: many customers press override within one minute of a running event.

Runs the demo with a short event paced in real time, serves the API with
``coflex serve`` on 127.0.0.1, gives each of N customers in the event an API
token and sends their POST /api/v1/overrides at evenly spaced times over the
window. Reports the latency of each press and checks from the store that every
override was honoured within the 60-second dispatch step.

    .venv/bin/python benchmarks/override_load.py --customers 2000 --overrides 1000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import numpy as np
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError

from coflex.adapters.readers.weather import read_weather
from coflex.adapters.store.database import open_engine, session_factory, transaction
from coflex.adapters.store.models import Event, Override, Participation, Site
from coflex.adapters.store.models_web import PendingOverride
from coflex.services.accounts import Role, create_account, issue_token
from coflex.services.demo import TERMS
from coflex.services.scenario import choose_scenario

TIMEZONE = "America/New_York"
COFLEX = [sys.executable, "-m", "coflex.entrypoints.cli"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait(condition, timeout_s: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.5)


def _event_window(minutes: float) -> tuple[datetime, datetime]:
    """Return the default event day's start and a short end, local and naive."""
    scenario = choose_scenario(
        read_weather(None), TIMEZONE, max_heat_index_c=TERMS.limits.heat_index_suspend_c
    )
    start = scenario.start.astimezone(ZoneInfo(TIMEZONE)).replace(tzinfo=None)
    return start, start + timedelta(minutes=minutes)


def _start_demo(args: argparse.Namespace, url: str, output: Path) -> subprocess.Popen:
    """Start `coflex demo` in its own process, with a short event in real time."""
    start, end = _event_window(args.event_minutes)
    return subprocess.Popen(
        [
            *COFLEX,
            "demo",
            "--quiet",
            "--database",
            url,
            "--output",
            str(output),
            "--customers",
            str(args.customers),
            "--seed",
            str(args.seed),
            "--override-share",
            "0",
            "--event-speed",
            "1",
            "--target-kw",
            str(args.target_kw_per_customer * args.customers),
            "--event-start",
            start.isoformat(),
            "--event-end",
            end.isoformat(),
        ],
        stdout=subprocess.DEVNULL,
    )


def _issue_tokens(factory, count: int) -> list[tuple[str, int, int]]:  # type: ignore[no-untyped-def]
    """Create token-only accounts for customers in the event: (token, event, site)."""
    now = datetime.now(UTC)
    with transaction(factory) as session:
        event_id = session.scalar(select(Event.id).where(Event.status == "running"))
        rows = session.execute(
            select(Participation.site_id, Site.customer_id)
            .join(Site, Site.id == Participation.site_id)
            .where(Participation.event_id == event_id)
            .distinct()
            .order_by(Participation.site_id)
        ).all()[:count]
        presses = []
        for site_id, customer_id in rows:
            account = create_account(
                session,
                f"load-{customer_id}",
                Role.CUSTOMER,
                "load test",
                None,
                now=now,
                customer_id=customer_id,
            )
            presses.append(
                (issue_token(session, account, "load", now), event_id, site_id)
            )
    return presses


async def _press(client: httpx.AsyncClient, delay_s: float, press, latencies) -> int:  # type: ignore[no-untyped-def]
    await asyncio.sleep(delay_s)
    token, event_id, site_id = press
    began = time.perf_counter()
    reply = await client.post(
        "/api/v1/overrides",
        json={"event_id": event_id, "site_id": site_id},
        headers={"Authorization": f"Bearer {token}"},
    )
    latencies.append(time.perf_counter() - began)
    return reply.status_code


async def _fire(base: str, presses, window_s: float) -> tuple[list[float], list[int]]:  # type: ignore[no-untyped-def]
    latencies: list[float] = []
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:
        spacing = window_s / max(len(presses), 1)
        statuses = await asyncio.gather(
            *(_press(client, i * spacing, p, latencies) for i, p in enumerate(presses))
        )
    return latencies, list(statuses)


def _honoured(factory, event_id: int) -> dict[str, float]:  # type: ignore[no-untyped-def]
    with factory() as session:
        statuses = dict(
            session.execute(
                select(PendingOverride.status, func.count()).group_by(
                    PendingOverride.status
                )
            ).all()
        )
        delays = [
            (o.honoured_at - o.requested_at).total_seconds()
            for o in session.scalars(
                select(Override).where(Override.event_id == event_id)
            )
        ]
    return {
        "statuses": statuses,
        "overrides": len(delays),
        "max_honour_s": max(delays, default=float("nan")),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--overrides", type=int, default=1000)
    parser.add_argument("--window-s", type=float, default=60.0)
    parser.add_argument(
        "--event-minutes",
        type=int,
        default=5,
        help="Event length; the simulation steps in 5-minute units.",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--target-kw-per-customer", type=float, default=1.0)
    parser.add_argument("--database", help="Database URL; default a new SQLite file")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="coflex-load-"))
    url = args.database or f"sqlite:///{folder / 'coflex.sqlite'}"
    demo = _start_demo(args, url, folder / "out")
    engine = open_engine(url)
    factory = session_factory(engine)
    _wait(lambda: _running(factory), 1800, "the event to start")
    presses = _issue_tokens(factory, args.overrides)

    port = _free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "coflex.entrypoints.cli",
            "serve",
            "--database",
            url,
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait(lambda: _up(base), 60, "the server")
        started = time.perf_counter()
        latencies, statuses = asyncio.run(_fire(base, presses, args.window_s))
        elapsed = time.perf_counter() - started
        time.sleep(65)  # one more dispatch step takes the last presses
        outcome = _honoured(factory, presses[0][1])
    finally:
        server.terminate()
        server.wait(timeout=30)
    demo.wait()
    engine.dispose()
    ms = np.array(latencies) * 1000
    print(
        json.dumps(
            {
                "customers": args.customers,
                "presses": len(presses),
                "window_s": round(elapsed, 1),
                "accepted": sum(1 for s in statuses if s == 202),
                "latency_ms": {
                    q: round(float(np.percentile(ms, p)), 1)
                    for q, p in (("p50", 50), ("p95", 95), ("p99", 99), ("max", 100))
                },
                **outcome,
            },
            indent=2,
        )
    )


def _running(factory) -> bool:  # type: ignore[no-untyped-def]
    try:
        with factory() as session:
            return (
                session.scalar(select(Event.id).where(Event.status == "running"))
                is not None
            )
    except DBAPIError:  # the demo has not created the tables yet
        return False


def _up(base: str) -> bool:
    try:
        return httpx.get(f"{base}/login", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


if __name__ == "__main__":
    main()
