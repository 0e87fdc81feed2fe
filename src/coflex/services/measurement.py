"""After the event: baselines from stored meter data, settlement and shared value."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from coflex.adapters.store.bulk import insert_rows
from coflex.adapters.store.database import transaction
from coflex.adapters.store.meter import load_cube
from coflex.adapters.store.models import Baseline, Event, Participation, Settlement
from coflex.domain.measurement import baselines, benefits, model_baselines, uncertainty
from coflex.domain.measurement.cube import DayCalendar, make_calendar
from coflex.domain.measurement.settlement import PaymentRates, settle

logger = logging.getLogger(__name__)

SLOT_S = 900
CONTROL_SITES_MIN = 30
# The control group carries the event day's weather and calendar effects, so
# the fallback accepts fewer of the site's own days than 10-in-10's minimum of 5.
FALLBACK_MIN_DAYS = 3


@dataclass(frozen=True)
class ValueRates:
    """What the event is worth, per program: the inputs of the benefit split."""

    aggregator_revenue_per_kwh: float
    grid_energy_value_per_kwh: float
    grid_capacity_value_per_kw: float
    emission_factor_kg_per_kwh: float = benefits.GAS_EMISSION_FACTOR_KG_PER_KWH
    social_cost_per_t_co2: float = benefits.SOCIAL_COST_USD_PER_T_CO2
    emission_source: str = (
        "US EIA, natural-gas-fired generation in 2022 (0.97 lb CO2/kWh), "
        "used for the marginal generator during peak events"
    )


@dataclass(frozen=True)
class Measurement:
    """Per-site results for the sites of an event, indexed by site position."""

    site_pos: np.ndarray
    delivered_kwh: np.ndarray
    uncertainty_kwh: np.ndarray
    baseline_kwh: np.ndarray  # [site, slot] of the event day
    actual_kwh: np.ndarray
    days_used: np.ndarray
    adjustment: np.ndarray
    payment_cents: np.ndarray
    shares: benefits.BenefitShares
    method: str
    parameters: dict
    status: np.ndarray  # per site: "settled", "fallback" or "review"
    placebo: uncertainty.PlaceboResult  # of the participants
    findings: list[list[dict]]
    event_slots: np.ndarray
    first_day: date
    calendar_days: np.ndarray


def event_slots(start: datetime, end: datetime, timezone: str) -> np.ndarray:
    """Return the local wall-clock 15-minute slots that the event covers."""
    zone = ZoneInfo(timezone)
    local_start, local_end = start.astimezone(zone), end.astimezone(zone)
    midnight = datetime.combine(local_start.date(), time(), zone)
    first = int(
        (
            local_start.replace(tzinfo=None) - midnight.replace(tzinfo=None)
        ).total_seconds()
        // SLOT_S
    )
    last = int(
        -(
            -(
                local_end.replace(tzinfo=None) - midnight.replace(tzinfo=None)
            ).total_seconds()
            // SLOT_S
        )
    )
    return np.arange(first, min(last, 96), dtype=np.int64)


def _baselines_with_fallback(
    cube: np.ndarray,
    calendar: DayCalendar,
    day_index: int,
    slots: np.ndarray,
    excluded: np.ndarray,
    control: np.ndarray,
) -> tuple[baselines.BaselineResult, np.ndarray, np.ndarray]:
    """Run the program's baseline and apply the stated fallback rule.

    A site whose CAISO 10-in-10 baseline lacks eligible days is measured by
    difference in differences against the sites that were not dispatched, from
    at least ``FALLBACK_MIN_DAYS`` of its own recent days. A
    site that neither method can measure (too little history, or missing
    readings in the event) is flagged for review and not paid until it is
    reviewed: nothing is averaged over silently.
    """
    primary = baselines.caiso_10_in_10(
        cube, calendar, day_index, slots, excluded, cap=0.20
    )
    delivered = baselines.delivered_kwh(primary, cube, day_index, slots)
    status = np.full(cube.shape[0], "settled", dtype=object)
    needs = primary.insufficient | ~np.isfinite(delivered)
    if needs.any() and control.sum() >= CONTROL_SITES_MIN:
        # The control sites' own event-day readings are the comparison.
        control_excluded = excluded.copy()
        control_excluded[control, day_index] = False
        fallback = model_baselines.control_group_did(
            cube,
            calendar,
            day_index,
            slots,
            control_excluded,
            control=control,
            min_days=FALLBACK_MIN_DAYS,
        )
        alternative = baselines.delivered_kwh(fallback, cube, day_index, slots)
        usable = needs & ~fallback.insufficient & np.isfinite(alternative)
        delivered = np.where(usable, alternative, delivered)
        status[usable] = "fallback"
        needs = needs & ~usable
    status[needs] = "review"
    delivered = np.where(needs, np.nan, delivered)
    return primary, delivered, status


def _placebo_of(
    placebo: uncertainty.PlaceboResult, pos: np.ndarray
) -> uncertainty.PlaceboResult:
    return uncertainty.PlaceboResult(
        bias_kwh=placebo.bias_kwh[pos],
        rmse_kwh=placebo.rmse_kwh[pos],
        n_days=placebo.n_days[pos],
        placebo_days=placebo.placebo_days,
    )


def _findings(found: list) -> list[dict]:
    return [
        {"code": f.code, "day": f.day.isoformat(), "count": int(f.count)} for f in found
    ]


def _earlier_event_days(
    session: Session,
    site_ids: np.ndarray,
    first_day: date,
    n_days: int,
    timezone: str,
    event_id: int,
) -> np.ndarray:
    """Mask [site, day] of days each site was dispatched in any earlier event."""
    zone = ZoneInfo(timezone)
    position = {int(s): i for i, s in enumerate(site_ids.tolist())}
    mask = np.zeros((len(site_ids), n_days), dtype=bool)
    rows = session.execute(
        select(Participation.site_id, Event.start)
        .join(Event, Event.id == Participation.event_id)
        .where(Participation.dispatched_at.is_not(None), Event.id != event_id)
    ).all()
    for site_id, start in rows:
        d = (start.astimezone(zone).date() - first_day).days
        pos = position.get(site_id)
        if pos is not None and 0 <= d < n_days:
            mask[pos, d] = True
    return mask


def measure_event(
    factory: sessionmaker[Session],
    event_id: int,
    site_ids: np.ndarray,
    participants: np.ndarray,
    *,
    first_day: date,
    event_day: date,
    start: datetime,
    end: datetime,
    timezone: str,
    rates: PaymentRates,
    values: ValueRates,
    overridden: np.ndarray,
    customer_ids: np.ndarray,
    store: bool = True,
) -> Measurement:
    """Measure, settle and share the value of an event for its participants.

    With ``store`` False the measurement is computed but not stored, for a
    resumed run whose baselines and settlements are stored already.
    """
    n_days = (event_day - first_day).days + 1
    with factory() as session:
        cube_result = load_cube(session, site_ids, first_day, n_days, timezone)
        earlier = _earlier_event_days(
            session, site_ids, first_day, n_days, timezone, event_id
        )
    calendar = make_calendar(first_day, n_days)
    cube = cube_result.cube_kwh
    day_index = n_days - 1
    slots = event_slots(start, end, timezone)
    excluded = cube_result.gap_day | earlier
    excluded[:, day_index] = True

    pos = np.asarray(participants, dtype=np.int64)
    control = np.ones(len(site_ids), dtype=bool)
    control[pos] = False
    result, delivered, status = _baselines_with_fallback(
        cube, calendar, day_index, slots, excluded, control
    )
    placebo = uncertainty.placebo_uncertainty(
        cube,
        calendar,
        baselines.caiso_10_in_10,
        slots,
        excluded,
        before_day=day_index,
        weekend_or_holiday=bool(calendar.weekend_or_holiday[day_index]),
    )
    delivered_p = delivered[pos]
    settlement = settle(delivered_p, rates, overridden=overridden[pos])
    payments = settlement.total_cents
    hours = (end - start).total_seconds() / 3600
    shares = benefits.share_benefits(
        delivered_p,
        payments / 100.0,
        grid_energy_value_per_kwh=values.grid_energy_value_per_kwh,
        grid_capacity_value_per_kw=values.grid_capacity_value_per_kw,
        aggregator_revenue_per_kwh=values.aggregator_revenue_per_kwh,
        event_hours=hours,
        emission_factor_kg_per_kwh=values.emission_factor_kg_per_kwh,
        social_cost_per_t_co2=values.social_cost_per_t_co2,
    )
    measurement = Measurement(
        site_pos=pos,
        delivered_kwh=delivered_p,
        uncertainty_kwh=placebo.rmse_kwh[pos],
        baseline_kwh=result.baseline_kwh[pos],
        actual_kwh=cube[pos, day_index].astype(np.float64),
        days_used=result.days_used[pos],
        adjustment=result.adjustment[pos],
        payment_cents=payments,
        shares=shares,
        method=result.method,
        parameters=result.parameters,
        status=status[pos],
        placebo=_placebo_of(placebo, pos),
        findings=[_findings(cube_result.findings[s]) for s in pos.tolist()],
        event_slots=slots,
        first_day=first_day,
        calendar_days=calendar.days,
    )
    if store:
        _store(
            factory, event_id, site_ids, customer_ids, measurement, settlement.currency
        )
    return measurement


def _store(
    factory: sessionmaker[Session],
    event_id: int,
    site_ids: np.ndarray,
    customer_ids: np.ndarray,
    m: Measurement,
    currency: str,
) -> None:
    baseline_rows, settlement_rows = [], []
    for j, s in enumerate(m.site_pos.tolist()):
        used = [str(m.calendar_days[d]) for d in m.days_used[j].tolist() if d >= 0]
        delivered = float(m.delivered_kwh[j])
        baseline_rows.append(
            {
                "event_id": event_id,
                "site_id": int(site_ids[s]),
                "method": m.method,
                "parameters": m.parameters,
                "days_used": used,
                "adjustment": float(m.adjustment[j]),
                "baseline_kwh": m.baseline_kwh[j].astype(np.float32).tobytes(),
                "actual_kwh": m.actual_kwh[j].astype(np.float32).tobytes(),
                "delivered_kwh": delivered if np.isfinite(delivered) else 0.0,
                "uncertainty_kwh": _finite_or_none(m.uncertainty_kwh[j]),
                "status": str(m.status[j]),
                "findings": m.findings[j],
            }
        )
        settlement_rows.append(
            {
                "event_id": event_id,
                "site_id": int(site_ids[s]),
                "customer_id": int(customer_ids[s]),
                "delivered_kwh": delivered if np.isfinite(delivered) else 0.0,
                "payment": int(m.payment_cents[j]) / 100.0,
                "currency": currency,
                "shares": _site_shares(m.shares, j),
            }
        )
    with transaction(factory) as session:
        insert_rows(session, Baseline, baseline_rows)
        insert_rows(session, Settlement, settlement_rows)
        event = session.get(Event, event_id)
        assert event is not None
        event.status = "settled"
    logger.info("event %s settled for %d sites", event_id, len(settlement_rows))


def _finite_or_none(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def _site_shares(shares: benefits.BenefitShares, j: int) -> dict[str, float]:
    return {
        "customer": int(shares.customer_payment_cents[j]) / 100.0,
        "aggregator": int(shares.aggregator_margin_cents[j]) / 100.0,
        "grid": int(shares.grid_net_value_cents[j]) / 100.0,
        "society": int(shares.social_value_cents[j]) / 100.0,
        "total": int(shares.total_value_cents[j]) / 100.0,
        "avoided_co2_kg": float(shares.avoided_co2_kg[j]),
    }
