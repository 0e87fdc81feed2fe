"""Storing interval meter data by site and local day, and loading it back as a cube.

A local day holds the UTC intervals that start within it: 96 quarter hours on
most days, 92 on the spring-forward day and 100 on the fall-back day.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from coflex.adapters.store.bulk import insert_rows
from coflex.adapters.store.models import Device, MeterDay
from coflex.domain.fleet import DeviceKind
from coflex.domain.measurement.cube import CubeResult, build_cube


def day_bounds_utc(first_day: date, n_days: int, timezone: str) -> np.ndarray:
    """Return the UTC epoch seconds of each local midnight, ``n_days + 1`` values."""
    zone = ZoneInfo(timezone)
    return np.array(
        [
            int(
                datetime.combine(
                    first_day + timedelta(days=d), datetime.min.time(), zone
                ).timestamp()
            )
            for d in range(n_days + 1)
        ],
        dtype=np.int64,
    )


def store_meter_days(
    session: Session,
    site_ids: np.ndarray,
    energy_kwh: np.ndarray,
    first_day: date,
    timezone: str,
    *,
    interval_s: int = 900,
    source: str = "simulated_meter",
) -> int:
    """Store ``energy_kwh[site, interval]`` starting at local midnight of ``first_day``.

    Only whole local days are stored; returns the number of rows written.
    """
    bounds = day_bounds_utc(
        first_day, energy_kwh.shape[1] * interval_s // 86_400 + 1, timezone
    )
    offsets = (bounds - bounds[0]) // interval_s
    whole_days = int(np.searchsorted(offsets, energy_kwh.shape[1], side="right")) - 1
    values = energy_kwh.astype(np.float32)
    rows = []
    for d in range(whole_days):
        day = first_day + timedelta(days=d)
        first, last = int(offsets[d]), int(offsets[d + 1])
        block = values[:, first:last]
        for i, site_id in enumerate(site_ids.tolist()):
            rows.append(
                {
                    "site_id": site_id,
                    "day": day,
                    "interval_s": interval_s,
                    "energy_kwh": block[i].tobytes(),
                    "source": source,
                }
            )
    insert_rows(session, MeterDay, rows)
    return len(rows)


def load_cube(
    session: Session,
    site_ids: np.ndarray,
    first_day: date,
    n_days: int,
    timezone: str,
    *,
    interval_s: int = 900,
) -> CubeResult:
    """Read the sites' meter days into a [site, day, slot] cube."""
    position = {int(s): i for i, s in enumerate(site_ids.tolist())}
    last_day = first_day + timedelta(days=n_days - 1)
    rows = session.execute(
        select(MeterDay.site_id, MeterDay.day, MeterDay.energy_kwh).where(
            MeterDay.day >= first_day,
            MeterDay.day <= last_day,
            MeterDay.interval_s == interval_s,
        )
    ).all()
    bounds = day_bounds_utc(first_day, n_days, timezone)
    export_kw = _export_allowance(session, position)
    sites, starts, blobs = [], [], []
    for site_id, day, blob in rows:
        pos = position.get(site_id)
        if pos is None:
            continue
        count = len(blob) // 4
        d = (day - first_day).days
        sites.append(np.full(count, pos, dtype=np.int64))
        starts.append(bounds[d] + interval_s * np.arange(count, dtype=np.int64))
        blobs.append(blob)
    if blobs:
        energy = np.frombuffer(b"".join(blobs), dtype=np.float32)
        site_index = np.concatenate(sites)
        interval_start = np.concatenate(starts)
    else:
        energy = np.zeros(0, dtype=np.float32)
        site_index = np.zeros(0, dtype=np.int64)
        interval_start = np.zeros(0, dtype=np.int64)
    return build_cube(
        site_index,
        interval_start,
        energy,
        len(site_ids),
        first_day,
        n_days,
        timezone,
        interval_s,
        max_export_kw=export_kw,
    )


def _export_allowance(session: Session, position: dict[int, int]) -> np.ndarray:
    """Return per site the power its battery can export [kW], 0 without one."""
    allowance = np.zeros(len(position))
    rows = session.execute(
        select(Device.site_id, Device.parameters).where(
            Device.kind == DeviceKind.BATTERY.value
        )
    ).all()
    for site_id, parameters in rows:
        pos = position.get(site_id)
        if pos is not None:
            allowance[pos] += float(parameters.get("power_kw", 0.0))
    return allowance
