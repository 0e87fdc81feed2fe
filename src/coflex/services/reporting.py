"""Feedback statements, the event report and the run summary."""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol
from zoneinfo import ZoneInfo

import numpy as np
from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

import coflex
from coflex.adapters.store.bulk import insert_rows
from coflex.adapters.store.database import transaction
from coflex.adapters.store.models import (
    Event,
    EventReport,
    EventTrace,
    Notice,
    Settlement,
    Statement,
)
from coflex.domain.measurement.uncertainty import within_noise
from coflex.domain.operations.notice import Channel, after_event_notice
from coflex.reports.charts import Series, TimeSeries, svg_line_chart, time_chart
from coflex.services import audit, opt_outs
from coflex.services.dispatch import DispatchOutcome
from coflex.services.events import PreparedEvent
from coflex.services.fleet_index import FleetIndex
from coflex.services.measurement import Measurement, ValueRates
from coflex.services.season import season_value

logger = logging.getLogger(__name__)

REASON_LABELS = {
    "no_active_contract": "No active contract",
    "cooling_off_not_over": "Cooling-off period not over",
    "no_valid_consent": "No valid consent to control",
    "event_cap_reached": "Event cap for the season reached",
    "notice_cannot_be_delivered_in_time": "Notice cannot be delivered in time",
    "protected_occupant": "Protected occupant (medical or life-support equipment)",
    "forecast_heat_condition": "Forecast heat condition",
    "forecast_cold_condition": "Forecast cold condition",
    "forecast_severe_storm": "Severe storm forecast: battery kept full",
    "no_flexibility_within_limits": "No flexibility within the safety limits",
    "notice_delivered_late": "Notice delivered late",
    "dual_enrollment": "Dual enrollment: enrolled with another provider",
    "change_notice_not_delivered_in_time": "Change notice not delivered in time",
    "emergency_notice_not_delivered": "Emergency notice not delivered within the hour",
    "opted_out": "Opted out",
    "left_program": "Left the program",
}


METHOD_LABELS = {
    "settled": "the average of your {count} most recent similar {day_type}, "
    "scaled to your use in the hours before the event (at most 20 % up or down)",
    "fallback": "your own recent days, moved by the change that homes not called in "
    "this event showed, because your home had too few similar recent days",
    "review": "there was not enough data to measure your home, so your result is "
    "marked for review by our staff and is not paid until it is reviewed",
}


@dataclass(frozen=True)
class Parties:
    """The parties the documents name: the aggregator, its regulator and the program."""

    aggregator_name: str
    jurisdiction: str
    registration_number: str
    phone: str
    regulator: str
    program_name: str


def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("coflex.reports", "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _window(start: datetime, end: datetime, timezone: str) -> str:
    zone = ZoneInfo(timezone)
    a, b = start.astimezone(zone), end.astimezone(zone)
    return f"{a:%A %d %B %Y}, {a:%H:%M} to {b:%H:%M %Z}"


def _slot_labels(n: int) -> list[str]:
    return [f"{(i * 15) // 60:02d}:{(i * 15) % 60:02d}" for i in range(n)]


def _summary_sentence(
    delivered: float, payment: float, currency: str, overridden: bool
) -> str:
    if not np.isfinite(delivered):
        return (
            "We could not measure your home during this event, "
            "so it is not settled yet."
        )
    if delivered <= 0:
        text = (
            "Your home used about as much as usual or more during the event, so there "
            "is no payment this time."
        )
    else:
        text = (
            f"Your home used {delivered:.2f} kWh less than usual during the event, "
            f"and you earn {payment:.2f} {currency}."
        )
    if overridden:
        text += " You stopped part of the event yourself, which is always your right."
    return text


def write_statements(
    factory: sessionmaker[Session],
    prepared: PreparedEvent,
    outcome: DispatchOutcome,
    m: Measurement,
    parties: Parties,
    values: ValueRates,
    output_dir: Path,
    issued_at: datetime,
    progress: object | None = None,
    channels: NoticeSender | None = None,
) -> int:
    """Write and store a statement for every participant; send after-event notices.

    Each after-event notice goes through ``channels`` and is stored with its
    delivery receipt; without channels it is stored as queued in the outbox.
    """
    env = _environment()
    template = env.get_template("statement.html")
    index, request = prepared.index, prepared.request
    with factory() as session:
        season = season_value(session, index.program_id, request.start.year)
        used = opt_outs.season_counts(session, index.program_id, request.start.year)
    earlier = _earlier_settlements(
        factory, prepared.event_id, index.customer_id[m.site_pos]
    )
    portfolio = float(np.nansum(m.delivered_kwh))
    rate = prepared.terms.payment_per_kwh
    labels = _slot_labels(m.baseline_kwh.shape[1])
    first, last = int(m.event_slots[0]), int(m.event_slots[-1]) + 1
    noise = within_noise(m.delivered_kwh, m.placebo)
    statement_rows, notice_rows = [], []
    for j, s in enumerate(m.site_pos.tolist()):
        ref = index.customer_ref[s]
        statement_ref = f"E{prepared.event_id}-{ref}"
        delivered = float(m.delivered_kwh[j])
        payment = int(m.payment_cents[j]) / 100.0
        override = outcome.overridden_sites.get(s)
        chart = svg_line_chart(
            labels,
            [
                Series(
                    "Your baseline",
                    (m.baseline_kwh[j] * 4).tolist(),
                    "#3a6ea5",
                    dashed=True,
                ),
                Series(
                    "Your actual use",
                    (np.nan_to_num(m.actual_kwh[j]) * 4).tolist(),
                    "#b03a2e",
                ),
            ],
            unit="kW",
            title="Your baseline against your actual use, in kW, on the event day",
            highlight=(first, last),
        )
        uncertainty = float(m.uncertainty_kwh[j])
        html = template.render(
            version=coflex.__version__,
            generated_at=issued_at.strftime("%Y-%m-%d %H:%M UTC"),
            customer={"name": index.customer_name[s], "reference": ref},
            event={
                "local_window": _window(request.start, request.end, index.timezone[s])
            },
            program={"name": parties.program_name},
            aggregator={
                "name": parties.aggregator_name,
                "phone": parties.phone,
                "registration_number": parties.registration_number,
            },
            regulator=parties.regulator,
            summary_sentence=_summary_sentence(
                delivered, payment, values_currency(prepared), override is not None
            ),
            chart=chart,
            baseline={
                "days_count": int((m.days_used[j] >= 0).sum()),
                "method": m.method
                if m.status[j] != "fallback"
                else "control_group_did",
                "method_label": METHOD_LABELS[str(m.status[j])].format(
                    count=int((m.days_used[j] >= 0).sum()),
                    day_type="weekdays"
                    if m.parameters.get("day_type") == "weekday"
                    else "weekend days and holidays",
                ),
                "parameters": json.dumps(m.parameters, sort_keys=True),
            },
            delivered_kwh=delivered if np.isfinite(delivered) else 0.0,
            uncertainty_kwh=uncertainty if np.isfinite(uncertainty) else None,
            within_noise=bool(noise[j]),
            portfolio_delivered_kwh=portfolio,
            rate=rate,
            currency=values_currency(prepared),
            payment=payment,
            overridden=override is not None,
            override_local=_local_time(override[1], index.timezone[s])
            if override
            else "",
            override_channel=override[2] if override else "",
            shares=_shares_row(m, j),
            social_cost_per_t=values.social_cost_per_t_co2,
            emission_factor=values.emission_factor_kg_per_kwh,
            emission_source=values.emission_source,
            earlier=earlier.get(int(index.customer_id[s]), []),
            season=season["per_customer"].get(int(index.customer_id[s])),
            allowance=_allowance_sentence(index, s, used),
            statement_ref=statement_ref,
        )
        folder = output_dir / "customers" / ref
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "statement.html").write_text(html, encoding="utf-8")
        statement_rows.append(
            {
                "event_id": prepared.event_id,
                "customer_id": int(index.customer_id[s]),
                "issued_at": issued_at,
                "html": html,
                "content_hash": hashlib.sha256(html.encode()).hexdigest(),
            }
        )
        text = after_event_notice(
            index.customer_name[s], request.end, index.timezone[s], statement_ref
        )
        notice_rows.append(
            {
                "event_id": prepared.event_id,
                "customer_id": int(index.customer_id[s]),
                "kind": "after_event",
                "channel": index.channel[s].value,
                "body": text.body,
                "created_at": issued_at,
                "sent_at": None,
                "delivered_at": None,
                "status": "queued",
            }
        )
        if progress is not None:
            progress()  # type: ignore[operator]
    if channels is not None:
        _deliver(channels, index, m.site_pos, notice_rows, issued_at)
    with transaction(factory) as session:
        insert_rows(session, Statement, statement_rows)
        insert_rows(session, Notice, notice_rows)
        audit.append(session, audit.statement_records(statement_rows))
        audit.append(session, audit.notice_records(notice_rows))
    logger.info(
        "event %s: %d statements written", prepared.event_id, len(statement_rows)
    )
    return len(statement_rows)


class NoticeSender(Protocol):
    def send(self, channels: list[Channel], sent_at: datetime) -> list: ...


def _deliver(
    channels: NoticeSender,
    index: FleetIndex,
    sites: np.ndarray,
    rows: list[dict],
    at: datetime,
) -> None:
    receipts = channels.send([index.channel[s] for s in sites.tolist()], at)
    for row, receipt in zip(rows, receipts, strict=True):
        row["sent_at"] = receipt.sent_at
        row["delivered_at"] = receipt.delivered_at
        row["status"] = "delivered" if receipt.delivered_at else "failed"


def _allowance_sentence(
    index: FleetIndex, s: int, used: dict[int, tuple[int, int]]
) -> str:
    """Return the opt-out count against the allowance, or "" without one."""
    terms = index.terms[s]
    if terms.free_opt_outs_per_season is None:
        return ""
    opt_out_count, override_count = used.get(int(index.customer_id[s]), (0, 0))
    return opt_outs.Allowance(
        index.program_id,
        opt_out_count,
        override_count,
        terms.free_opt_outs_per_season,
    ).describe()


def values_currency(prepared: PreparedEvent) -> str:
    return prepared.terms.currency


def _local_time(at: datetime, timezone: str) -> str:
    return at.astimezone(ZoneInfo(timezone)).strftime("%H:%M:%S %Z")


def _shares_row(m: Measurement, j: int) -> dict[str, float]:
    s = m.shares
    return {
        "customer": int(s.customer_payment_cents[j]) / 100.0,
        "aggregator": int(s.aggregator_margin_cents[j]) / 100.0,
        "grid": int(s.grid_net_value_cents[j]) / 100.0,
        "society": int(s.social_value_cents[j]) / 100.0,
        "total": int(s.total_value_cents[j]) / 100.0,
        "avoided_co2_kg": float(s.avoided_co2_kg[j]),
    }


def _earlier_settlements(
    factory: sessionmaker[Session], event_id: int, customer_ids: np.ndarray
) -> dict[int, list[dict]]:
    wanted = set(customer_ids.tolist())
    with factory() as session:
        rows = session.execute(
            select(
                Settlement.customer_id,
                Settlement.delivered_kwh,
                Settlement.payment,
                Event.start,
                Event.end,
            )
            .join(Event, Event.id == Settlement.event_id)
            .where(Settlement.event_id != event_id)
            .order_by(Event.start)
        ).all()
    found: dict[int, list[dict]] = {}
    for customer_id, delivered, payment, start, _end in rows:
        if customer_id in wanted:
            found.setdefault(customer_id, []).append(
                {
                    "window": f"{start:%Y-%m-%d}",
                    "delivered_kwh": delivered,
                    "payment": payment,
                }
            )
    return found


def _traces(factory: sessionmaker[Session], event_id: int) -> list[EventTrace]:
    with factory() as session:
        return list(
            session.scalars(
                select(EventTrace)
                .where(EventTrace.event_id == event_id)
                .order_by(EventTrace.at)
            )
        )


def _notice_stats(
    factory: sessionmaker[Session], prepared: PreparedEvent
) -> dict[str, float]:
    with factory() as session:
        rows = session.execute(
            select(Notice.delivered_at, Notice.status).where(
                Notice.event_id == prepared.event_id, Notice.kind == "pre_event"
            )
        ).all()
    start = prepared.request.start
    leads = [
        (start - delivered).total_seconds() / 60 for delivered, _ in rows if delivered
    ]
    statuses = Counter(status for _, status in rows)
    return {
        "min_lead_min": prepared.terms.min_notice_s / 60,
        "sent": len(rows),
        "in_time": statuses.get("delivered", 0),
        "late": statuses.get("late", 0) + statuses.get("failed", 0),
        "lead_min_min": min(leads) if leads else 0.0,
        "lead_median_min": float(np.median(leads)) if leads else 0.0,
    }


def build_summary(
    prepared: PreparedEvent,
    outcome: DispatchOutcome,
    m: Measurement,
    traces: list[EventTrace],
    *,
    database: str,
    statements: int,
    issued_at: datetime,
    season_totals: dict[str, object] | None = None,
) -> dict[str, object]:
    """Collect the figures of the run; ``summary.json`` is this dictionary.

    ``statements_late`` counts statements issued after the program's deadline
    (``statement_due_s`` after the event end).
    """
    due = prepared.request.end + timedelta(seconds=prepared.terms.statement_due_s)
    hours = prepared.request.duration_s / 3600
    delivered_kwh = float(np.nansum(m.delivered_kwh))
    reductions = [t.counterfactual_kw - t.fleet_power_kw for t in traces]
    excluded = dict(prepared.exclusions)
    if outcome.late_notice_sites:
        excluded["notice_delivered_late"] = len(outcome.late_notice_sites)
    for reason, count in outcome.withdrawn_sites.items():
        excluded[reason] = excluded.get(reason, 0) + count
    eligible = int(prepared.site_eligible.sum())
    dispatched_sites = len(outcome.dispatched_sites)
    totals = m.shares.event_totals()
    return {
        "event_id": prepared.event_id,
        "event_start": prepared.request.start.isoformat(),
        "event_end": prepared.request.end.isoformat(),
        "requested_kw": prepared.request.target_kw,
        "planned_kw": prepared.plan.planned_kw,
        "plan_method": prepared.plan.method,
        "delivered_kw": delivered_kwh / hours,
        "delivered_kwh": delivered_kwh,
        "true_reduction_kw": float(np.mean(reductions)) if reductions else 0.0,
        "shortfall_kw": outcome.shortfall_kw,
        "delivered_shortfall_kw": max(
            0.0, prepared.request.target_kw - delivered_kwh / hours
        ),
        "customers": prepared.index.n_sites,
        "eligible": eligible,
        "dispatched": dispatched_sites,
        "reserve_not_called": len(
            set(prepared.index.device_site[prepared.candidate_device_pos].tolist())
            - outcome.dispatched_sites
            - outcome.late_notice_sites
        ),
        "excluded": dict(sorted(excluded.items())),
        "overrides": len(outcome.overridden_sites),
        "reserve_dispatched": outcome.reserve_called,
        "safety_releases": int(sum(outcome.safety_releases.values())),
        "vetoes": outcome.vetoes,
        "notices_late_dispatched": outcome.notices_late_dispatched,
        "emergency_notices_missed": outcome.withdrawn_sites[
            "emergency_notice_not_delivered"
        ],
        "cancelled_at": outcome.cancelled_at.isoformat()
        if outcome.cancelled_at
        else None,
        "safety_violations": outcome.safety_violations,
        "statements": statements,
        "statement_due_hours": prepared.terms.statement_due_s / 3600,
        "statements_late": statements if issued_at > due else 0,
        "payments_total": totals["customer_payment_cents"] / 100.0,
        "season_to_date": season_totals,
        "measurement": dict(sorted(Counter(m.status.tolist()).items())),
        "avoided_co2_kg": totals["avoided_co2_kg"],
        "database": database,
    }


def write_event_report(
    factory: sessionmaker[Session],
    prepared: PreparedEvent,
    outcome: DispatchOutcome,
    m: Measurement,
    parties: Parties,
    summary: dict[str, object],
    output_dir: Path,
    issued_at: datetime,
) -> Path:
    """Write ``event-report.html`` and keep it as a record."""
    request = prepared.request
    timezone = prepared.index.timezone[0] if prepared.index.n_sites else "UTC"
    traces = _traces(factory, prepared.event_id)
    times = [t.at for t in traces]
    measured = (
        np.nansum(
            m.baseline_kwh[:, m.event_slots] - m.actual_kwh[:, m.event_slots], axis=0
        )
        * 4
    )
    slot_times = [
        request.start + timedelta(minutes=15 * i) for i in range(len(m.event_slots))
    ]
    chart = time_chart(
        [
            TimeSeries(
                "Requested",
                [request.start, *times],
                [request.target_kw] * (len(times) + 1),
                "#333333",
                step=True,
            ),
            TimeSeries(
                "Planned (predicted)",
                times,
                [t.commanded_kw for t in traces],
                "#1f77b4",
                "--",
            ),
            TimeSeries(
                "Delivered, simulated against no control",
                times,
                [t.counterfactual_kw - t.fleet_power_kw for t in traces],
                "#2ca02c",
            ),
            TimeSeries(
                "Delivered, measured against baselines (15 min)",
                slot_times,
                measured.tolist(),
                "#d62728",
                step=True,
            ),
        ],
        timezone=timezone,
        title="Requested against delivered load reduction",
        unit="Load reduction [kW]",
    )
    totals = m.shares.event_totals()
    html = (
        _environment()
        .get_template("event-report.html")
        .render(
            version=coflex.__version__,
            generated_at=issued_at.strftime("%Y-%m-%d %H:%M UTC"),
            event={
                "reference": f"E{prepared.event_id}",
                "local_window": _window(request.start, request.end, timezone),
            },
            aggregator={
                "name": parties.aggregator_name,
                "jurisdiction": parties.jurisdiction,
                "registration_number": parties.registration_number,
            },
            program={"name": parties.program_name},
            request={
                "requester": request.requester,
                "received_local": _window(
                    request.received_at, request.received_at, timezone
                ).split(" to ")[0],
                "target_kw": request.target_kw,
                "event_class": request.event_class.value,
            },
            chart=chart,
            summary=summary,
            reason_labels=REASON_LABELS,
            notice=_notice_stats(factory, prepared),
            releases=dict(outcome.safety_releases),
            value={
                "customer": totals["customer_payment_cents"] / 100.0,
                "aggregator": totals["aggregator_margin_cents"] / 100.0,
                "grid": totals["grid_net_value_cents"] / 100.0,
                "society": totals["social_value_cents"] / 100.0,
                "total": totals["total_value_cents"] / 100.0,
                "avoided_co2_kg": totals["avoided_co2_kg"],
            },
            currency=prepared.terms.currency,
        )
    )
    path = output_dir / "event-report.html"
    path.write_text(html, encoding="utf-8")
    with transaction(factory) as session:
        session.add(
            EventReport(
                event_id=prepared.event_id,
                issued_at=issued_at,
                html=html,
                summary=summary,
            )
        )
        event = session.get(Event, prepared.event_id)
        assert event is not None
        event.status = "completed"
        event.summary = summary
    return path
