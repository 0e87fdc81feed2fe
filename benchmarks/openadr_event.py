"""Time an upstream OpenADR 2.0b event turned into a dispatch plan.

Usage::

    python benchmarks/openadr_event.py --customers 500 --repeats 5

The script enrolls a demo fleet (not timed), then hands the VEN's decision
step one oadrEvent per repeat, as openleadr 0.5.36 delivers it: the event is
parsed, validated against the program terms, eligibility is decided and
stored per site and device, flexibility is forecast, HiGHS plans the target,
customers are notified and the opt answer is stored. It prints one JSON line
with the median and maximum time [s] from receipt to answer.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from coflex.adapters.grid.openadr2 import parse_event
from coflex.adapters.notices.simulated import SimulatedNoticeChannels
from coflex.services.demo_grid import build_grid_fleet
from coflex.services.grid_requests import GridRequestService, SignalScale

NOTICE = timedelta(hours=2, minutes=15)


def _event(event_id: str, created: datetime, start: datetime) -> dict:
    return {
        "event_descriptor": {
            "event_id": event_id,
            "modification_number": 0,
            "event_status": "far",
            "created_date_time": created,
            "market_context": "oadr://benchmark",
        },
        "active_period": {"dtstart": start, "duration": timedelta(hours=3)},
        "event_signals": [
            {
                "signal_name": "SIMPLE",
                "signal_type": "level",
                "intervals": [
                    {
                        "dtstart": start,
                        "duration": timedelta(hours=3),
                        "signal_payload": 1,
                    }
                ],
            }
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'coflex.sqlite'}"
        fleet = build_grid_fleet(url, args.customers, args.seed, Path(folder) / "docs")
        wall_start = (datetime.now(UTC) + NOTICE).replace(microsecond=0)
        service = GridRequestService(
            fleet.factory,
            fleet.program_id,
            fleet.terms,
            fleet.forecaster,
            SimulatedNoticeChannels(np.random.default_rng(args.seed)),
            SignalScale(
                (0.3 * args.customers, 0.5 * args.customers, 0.7 * args.customers)
            ),
            to_fleet_time=fleet.clock_for(wall_start),
        )
        seconds, answers = [], []
        for k in range(args.repeats):
            started = time.perf_counter()
            received = datetime.now(UTC)
            event = parse_event(
                "BENCH-VTN", _event(f"bench-{k}", received, wall_start), received
            )
            answers.append(service.decide(event, "ven-bench"))
            seconds.append(time.perf_counter() - started)
        devices = (
            len(next(iter(service.prepared.values())).index.device_id)
            if service.prepared
            else 0
        )
        fleet.engine.dispose()
    print(
        json.dumps(
            {
                "benchmark": "openadr_event",
                "customers": args.customers,
                "devices": devices,
                "repeats": args.repeats,
                "median_s": round(statistics.median(seconds), 3),
                "max_s": round(max(seconds), 3),
                "answers": sorted(set(answers)),
                "python": platform.python_version(),
                "cpus": os.cpu_count(),
            }
        )
    )


if __name__ == "__main__":
    main()
