"""Time the dispatch planner on a synthetic fleet and compare it with the LP bound.

Usage::

    python benchmarks/plan.py --devices 100000 --method highs --seed 1

The fleet mixes smart thermostats, home batteries, EV chargers and water
heaters, about two devices per site, and the target is 40 % of the fleet's
flexibility. The script prints one JSON line with the planning time [s], the
objective, its relative gap to the LP relaxation solved by HiGHS, the device
count and the method that produced the plan.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from coflex.domain.operations.planner import (
    METHODS,
    Candidates,
    plan,
    relaxation_bound,
)

TARGET_SHARE = 0.40

# Device mix: share of the fleet, flexibility range [kW], divisible, impact
# range per kW. The ranges are estimates of household figures. A central air
# conditioner sheds about 0.5-2.5 kW averaged over an event, and a home
# battery discharges at 2-5 kW. A Level 2 EV charger draws 3.3-7.2 kW, and a
# water heater element of 3-4.5 kW only switches on or off.
DEVICE_MIX = (
    ("thermostat", 0.45, (0.5, 2.5), True, (0.3, 1.0)),
    ("battery", 0.20, (2.0, 5.0), True, (0.0, 0.1)),
    ("ev_charger", 0.15, (3.3, 7.2), True, (0.1, 0.4)),
    ("water_heater", 0.20, (3.0, 4.5), False, (0.05, 0.3)),
)


def build_fleet(devices: int, seed: int) -> Candidates:
    """Build a synthetic fleet of ``devices`` candidates from ``seed``."""
    rng = np.random.default_rng(seed)
    shares = np.array([mix[1] for mix in DEVICE_MIX])
    kind = rng.choice(len(DEVICE_MIX), size=devices, p=shares / shares.sum())

    flex_kw = np.empty(devices)
    impact = np.empty(devices)
    divisible = np.empty(devices, dtype=bool)
    for k, (_, _, flex_range, is_divisible, impact_range) in enumerate(DEVICE_MIX):
        chosen = kind == k
        flex_kw[chosen] = rng.uniform(*flex_range, size=chosen.sum())
        impact[chosen] = rng.uniform(*impact_range, size=chosen.sum())
        divisible[chosen] = is_divisible

    sites = max(1, devices // 2)
    site_id = rng.integers(0, sites, size=devices)
    cap = np.where(rng.random(sites) < 0.8, 30, 20)[site_id]
    events = rng.integers(0, 16, size=sites)[site_id]
    return Candidates(
        device_id=np.arange(devices),
        site_id=site_id,
        flex_kw=flex_kw,
        divisible=divisible,
        impact=impact,
        events_this_season=events,
        max_events_per_season=cap,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, required=True, help="fleet size")
    parser.add_argument("--method", choices=METHODS, default="highs")
    parser.add_argument("--seed", type=int, default=1, help="fleet random seed")
    args = parser.parse_args()

    fleet = build_fleet(args.devices, args.seed)
    target_kw = TARGET_SHARE * float(fleet.flex_kw.sum())
    started = time.perf_counter()
    result = plan(fleet, target_kw, method=args.method)
    seconds = time.perf_counter() - started
    bound = relaxation_bound(fleet, target_kw)

    print(
        json.dumps(
            {
                "seconds": round(seconds, 4),
                "objective": result.objective,
                "gap_to_optimum": result.objective / bound - 1.0,
                "devices": args.devices,
                "method": result.method,
                "shortfall_kw": result.shortfall_kw,
                "fallback_reason": result.fallback_reason,
            }
        )
    )


if __name__ == "__main__":
    main()
