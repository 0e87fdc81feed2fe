"""The customer portal: contract, devices, events, override, statements."""

# Annotations stay evaluated: FastAPI reads them from the route functions.

from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from coflex.adapters.store.models import (
    Contract,
    Customer,
    Device,
    Event,
    Notice,
    Override,
    Participation,
    Program,
    Site,
    Statement,
)
from coflex.adapters.store.models_notices import SiteWithdrawal
from coflex.adapters.store.models_web import PendingOverride
from coflex.domain.programs import ProgramTerms
from coflex.entrypoints.web.rate_limits import admit_write
from coflex.entrypoints.web.schemas import MAX_ID
from coflex.entrypoints.web.security import (
    CsrfField,
    PageUser,
    check_csrf,
    page_roles,
    session_factory,
)
from coflex.entrypoints.web.templating import templates
from coflex.services import opt_outs, override_inbox
from coflex.services.accounts import NotFound, Role, utc_now
from coflex.services.event_changes import COMING_STATUSES
from coflex.services.reporting import REASON_LABELS

router = APIRouter(prefix="/portal")
CustomerUser = Annotated[PageUser, Depends(page_roles(Role.CUSTOMER))]
FormId = Annotated[int, Form(ge=1, le=MAX_ID)]
PathId = Annotated[int, Path(ge=1, le=MAX_ID)]

DEVICE_LABELS = {
    "hvac": "Air conditioner or heat pump (smart thermostat)",
    "battery": "Home battery",
    "ev_charger": "Electric vehicle charger",
    "water_heater": "Water heater",
}
FINISHED = ("ended", "completed")


@dataclass(frozen=True)
class DeviceState:
    device: Device
    label: str
    under_control: bool
    status: str


@dataclass(frozen=True)
class EventView:
    event: Event
    notices: list[Notice]
    sites_to_override: list[int]
    overridden: bool
    pending_request_id: int | None
    sites_to_opt_out: list[int] = field(default_factory=list)
    # The reason a site of the customer was withdrawn after the plan, if any.
    withdrawn_reason: str | None = None


def _device_state(
    device: Device, participation: Participation | None, event: Event | None, tz: str
) -> DeviceState:
    from coflex.entrypoints.web.templating import local_time

    label = DEVICE_LABELS.get(device.kind, device.kind)
    if participation is None or event is None or participation.dispatched_at is None:
        return DeviceState(device, label, False, "Not under control by the program.")
    if event.status == "running" and participation.released_at is None:
        return DeviceState(
            device,
            label,
            True,
            f"Under control now for event {event.id}, until "
            f"{local_time(event.end, tz)}.",
        )
    if participation.release_reason == "customer_override":
        when = local_time(participation.released_at, tz)
        return DeviceState(device, label, False, f"Released: you overrode at {when}.")
    when = local_time(participation.released_at, tz)
    return DeviceState(device, label, False, f"Back under your control since {when}.")


def _latest_participations(
    session: Session, device_ids: list[int]
) -> dict[int, tuple[Participation, Event]]:
    rows = session.execute(
        select(Participation, Event)
        .join(Event, Event.id == Participation.event_id)
        .where(Participation.device_id.in_(device_ids))
        .order_by(Event.start)
    ).all()
    return {p.device_id: (p, e) for p, e in rows}


def _devices(session: Session, sites: list[Site]) -> list[DeviceState]:
    site_ids = [s.id for s in sites]
    zones = {s.id: s.timezone for s in sites}
    devices = session.scalars(
        select(Device).where(Device.site_id.in_(site_ids)).order_by(Device.id)
    ).all()
    latest = _latest_participations(session, [d.id for d in devices])
    states = []
    for device in devices:
        participation, event = latest.get(device.id, (None, None))
        states.append(
            _device_state(device, participation, event, zones[device.site_id])
        )
    return states


def _events(session: Session, customer_id: int, site_ids: list[int]) -> list[EventView]:
    notices = session.scalars(
        select(Notice).where(Notice.customer_id == customer_id).order_by(Notice.id)
    ).all()
    by_event: dict[int, list[Notice]] = {}
    for notice in notices:
        by_event.setdefault(notice.event_id, []).append(notice)
    taking_part = session.execute(
        select(Participation.event_id, Participation.site_id)
        .where(Participation.site_id.in_(site_ids))
        .distinct()
    ).all()
    event_ids = set(by_event) | {e for e, _ in taking_part}
    events = session.scalars(
        select(Event).where(Event.id.in_(event_ids)).order_by(Event.start.desc())
    ).all()
    overridden = set(
        session.execute(
            select(Override.event_id, Override.site_id).where(
                Override.site_id.in_(site_ids)
            )
        ).all()
    )
    pending = dict(
        session.execute(
            select(PendingOverride.event_id, PendingOverride.id).where(
                PendingOverride.site_id.in_(site_ids),
                PendingOverride.status == "pending",
            )
        ).all()
    )
    withdrawn = {
        (event_id, site_id): reason
        for event_id, site_id, reason in session.execute(
            select(
                SiteWithdrawal.event_id, SiteWithdrawal.site_id, SiteWithdrawal.reason
            ).where(SiteWithdrawal.site_id.in_(site_ids))
        ).all()
    }
    views = []
    for event in events:
        sites = sorted(
            {s for e, s in taking_part if e == event.id and (e, s) not in overridden}
        )
        running = event.status in override_inbox.OVERRIDABLE_STATUSES
        coming = event.status in COMING_STATUSES
        views.append(
            EventView(
                event,
                by_event.get(event.id, []),
                sites if running else [],
                any(e == event.id for e, _ in overridden),
                pending.get(event.id),
                [s for s in sites if (event.id, s) not in withdrawn] if coming else [],
                next((r for (e, _), r in withdrawn.items() if e == event.id), None),
            )
        )
    return views


def _key_facts(terms: dict[str, Any]) -> dict[str, str]:
    parsed = ProgramTerms.from_json(terms)
    limits = parsed.limits
    return {
        "Notice before an event": f"at least {parsed.min_notice_s / 3600:g} hours",
        "Longest event": f"{parsed.max_event_s / 3600:g} hours",
        "Events per season, at most": str(parsed.max_events_per_season),
        "Event hours per season, at most": f"{parsed.max_hours_per_season:g}",
        "Payment": f"{parsed.payment_per_kwh:.2f} {parsed.currency} per kWh reduced",
        "Indoor temperature kept between": (
            f"{limits.indoor_min_c:g} °C and {limits.indoor_max_c:g} °C"
        ),
        "Battery kept charged to at least": f"{limits.battery_reserve_fraction:.0%}",
        "Hot water kept at least": f"{limits.water_heater_min_c:g} °C",
        "Override or opt out": _allowance_fact(parsed.free_opt_outs_per_season),
    }


def _allowance_fact(free: int | None) -> str:
    if free is None:
        return "at any time, in one step, with no penalty"
    return (
        f"at any time, in one step; {free} opt-outs or overrides a season are "
        "free, and beyond that the payment for that event may be withheld"
    )


def _is_past(event: Event) -> bool:
    """Return True for an ended event, or a cancelled one whose window has passed."""
    if event.status == "cancelled":
        return event.end <= utc_now()
    return event.status in FINISHED


def _portal(session: Session, customer_id: int) -> dict[str, Any]:
    customer = session.get(Customer, customer_id)
    sites = list(
        session.scalars(select(Site).where(Site.customer_id == customer_id)).all()
    )
    contracts = session.execute(
        select(Contract, Program.name)
        .join(Program, Program.id == Contract.program_id)
        .where(Contract.customer_id == customer_id)
        .order_by(Contract.id)
    ).all()
    statements = session.scalars(
        select(Statement)
        .where(Statement.customer_id == customer_id)
        .order_by(Statement.issued_at.desc())
    ).all()
    events = _events(session, customer_id, [s.id for s in sites])
    return {
        "customer": customer,
        "timezone": sites[0].timezone if sites else "UTC",
        "contracts": [
            (
                c,
                name,
                _key_facts(c.terms),
                opt_outs.allowance(session, customer_id, c, utc_now().year).describe(),
            )
            for c, name in contracts
        ],
        "devices": _devices(session, sites),
        "current": [v for v in events if not _is_past(v.event)],
        "past": [v for v in events if _is_past(v.event)],
        "statements": statements,
        "reason_labels": REASON_LABELS,
    }


@router.get("", response_class=HTMLResponse)
def portal(request: Request, user: CustomerUser) -> Response:
    """Show the customer's contract, devices, events and statements."""
    with session_factory(request)() as session:
        view = _portal(session, user.principal.customer_id or 0)
    return templates.TemplateResponse(request, "portal.html", {"user": user, **view})


@router.post("/overrides")
def override(
    request: Request,
    user: CustomerUser,
    event_id: FormId,
    site_id: FormId,
    csrf_token: CsrfField,
) -> Response:
    """Stop the event at the customer's site in one step."""
    check_csrf(user, csrf_token)
    admit_write(request, "override_writes_per_account", user.principal.account_id)
    factory = session_factory(request)
    with factory() as session:
        site = session.get(Site, site_id)
        if site is None or site.customer_id != user.principal.customer_id:
            raise NotFound(
                f"site {site_id} not found among your sites", field="site_id"
            )
    status = override_inbox.request_override(
        factory,
        event_id,
        site_id,
        account_id=user.principal.account_id,
        channel="portal",
        now=utc_now(),
    )
    return RedirectResponse(f"/portal/overrides/{status.request_id}", status_code=303)


@router.get("/overrides/{request_id}", response_class=HTMLResponse)
def override_page(request: Request, user: CustomerUser, request_id: PathId) -> Response:
    """Show whether the override is honoured; the page reloads until it is."""
    factory = session_factory(request)
    with factory() as session:
        row = session.get(PendingOverride, request_id)
        site = session.get(Site, row.site_id) if row is not None else None
        if (
            row is None
            or site is None
            or site.customer_id != user.principal.customer_id
        ):
            raise NotFound(f"override request {request_id} not found", field="id")
        event = session.get(Event, row.event_id)
        view = _portal(session, user.principal.customer_id or 0)
    return templates.TemplateResponse(
        request,
        "override.html",
        {"user": user, "row": row, "event": event, "now": utc_now(), **view},
    )


@router.get("/statements/{statement_id}", response_class=HTMLResponse)
def statement(request: Request, user: CustomerUser, statement_id: PathId) -> Response:
    """Return the customer's statement with its charts, as it was issued."""
    with session_factory(request)() as session:
        row = session.get(Statement, statement_id)
        if row is None or row.customer_id != user.principal.customer_id:
            raise NotFound(f"statement {statement_id} not found", field="id")
        return HTMLResponse(row.html)
