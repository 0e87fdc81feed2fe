"""One customer's proposal and offer, for the CLI and the portals.

A proposal opens a draft contract under the program's terms; offering the
contract generates the Key Facts and terms from that contract and offers all
three documents. The fleet path in :mod:`coflex.services.fleet_contracts` does
the same in bulk.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from coflex.adapters.readers.weather import WeatherSeries
from coflex.adapters.store.models import Contract, Customer, Device, MeterDay, Site
from coflex.adapters.store.models_enrollment import EnrollmentDocument
from coflex.domain.enrollment.cooling_off import cooling_off_end
from coflex.domain.enrollment.key_facts import (
    ContractFacts,
    build_key_facts,
    build_terms,
)
from coflex.domain.enrollment.proposals import (
    DeviceSummary,
    SiteHistory,
    build_proposal,
)
from coflex.domain.enrollment.quotation import (
    LineCategory,
    Quotation,
    QuoteLine,
    build_quotation,
)
from coflex.domain.fleet import DeviceKind
from coflex.domain.programs import ProgramTerms
from coflex.errors import InputError, NotFoundError
from coflex.services import competition, contracting
from coflex.services.enrollment_documents import DocumentRenderer
from coflex.services.fleet_contracts import (
    OFFER_VALIDITY,
    ProgramOffer,
    quotation_lines,
    site_histories,
)

HISTORY_DAYS = 45
# NOTE: a proposed limit for "the site's own weather", from no published rule.
MAX_STATION_DISTANCE_KM = 100.0
EARTH_RADIUS_KM = 6371.0


@dataclass(frozen=True)
class Issued:
    """The documents issued for a contract, and the site's open flags.

    ``flags`` lists each unresolved dual-enrollment flag of the site in the
    contract's program, as text.
    """

    contract_id: int
    document_ids: dict[str, int]
    paths: list[Path]
    flags: tuple[str, ...] = ()


def _customer_site(session: Session, reference: str) -> tuple[Customer, Site]:
    customer = session.scalars(
        select(Customer).where(Customer.reference == reference)
    ).one_or_none()
    site = (
        session.scalars(select(Site).where(Site.customer_id == customer.id)).first()
        if customer
        else None
    )
    if customer is None or site is None:
        raise NotFoundError(
            f"customer {reference!r} with a site not found: check the reference",
            value=reference,
            field="customer",
        )
    return customer, site


def site_history(
    session: Session, site: Site, weather: WeatherSeries, at: datetime
) -> SiteHistory:
    """Summarise the site's stored meter days before ``at`` and their weather.

    The load comes from the site's own meter days, up to 45 and the most
    recent first. The hottest afternoon comes from the weather of those days.

    Raises
    ------
    InputError
        If the site has no metered day before ``at``, the weather station is
        more than 100 km from the site, or the weather covers none of the
        metered days.
    """
    check_station_near(site, weather)
    rows = session.execute(
        select(MeterDay.day, MeterDay.energy_kwh, MeterDay.interval_s)
        .where(MeterDay.site_id == site.id, MeterDay.day < at.date())
        .order_by(MeterDay.day.desc())
        .limit(HISTORY_DAYS)
    ).all()
    used = [
        (day, np.frombuffer(data, dtype=np.float32) * 3600 / interval)
        for day, data, interval in rows
        if len(data) // 4 == 86400 // interval  # days without a clock change
    ]
    if not used:
        raise InputError(
            f"site {site.id} has no meter data before {at.date()}: load its meter "
            "history before writing a proposal",
            value=site.id,
            field="site",
        )
    grid = np.stack([np.repeat(kw, 288 // len(kw)) for _, kw in used])
    on_days = weather_on_days(weather, {day for day, _ in used}, site.timezone)
    return site_histories(grid.reshape(1, -1), on_days, site.timezone, len(used))[0]


def check_station_near(site: Site, weather: WeatherSeries) -> None:
    """Raise if the weather station is too far from the site to describe it.

    Raises
    ------
    InputError
        If the great-circle distance is over 100 km.
    """
    lat1, lon1, lat2, lon2 = map(
        np.radians, (site.latitude, site.longitude, weather.latitude, weather.longitude)
    )
    # Haversine formula on a sphere of the Earth's mean radius, 6371 km.
    a = (
        np.sin((lat2 - lat1) / 2) ** 2
        + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    )
    distance_km = float(2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(a)))
    if distance_km > MAX_STATION_DISTANCE_KM:
        raise InputError(
            f"weather station {weather.station or weather.source} is "
            f"{distance_km:.0f} km from site {site.id}, more than "
            f"{MAX_STATION_DISTANCE_KM:.0f} km: give a weather file from a "
            "station near the site",
            value=round(distance_km),
            field="weather",
        )


def weather_on_days(
    weather: WeatherSeries, days: set[date], timezone: str
) -> WeatherSeries:
    """Return the hours of ``weather`` that fall on ``days`` in local time.

    Raises
    ------
    InputError
        If the weather covers none of the days.
    """
    local = pd.DatetimeIndex(weather.times, tz="UTC").tz_convert(timezone)
    mask = np.isin(np.array(local.date), np.array(sorted(days)))
    if not mask.any():
        raise InputError(
            f"weather from {weather.source} covers none of the site's "
            f"{len(days)} metered days ({min(days)} to {max(days)}): give a "
            "weather file for those dates",
            value=weather.source,
            field="weather",
        )
    return replace(
        weather,
        times=weather.times[mask],
        temp_air_c=weather.temp_air_c[mask],
        relative_humidity_pct=weather.relative_humidity_pct[mask],
        ghi_w_m2=weather.ghi_w_m2[mask],
    )


def create_proposal(
    session: Session,
    reference: str,
    program_id: int,
    terms: ProgramTerms,
    offer: ProgramOffer,
    weather: WeatherSeries,
    at: datetime,
    output_dir: Path,
) -> Issued:
    """Open a draft contract and issue its proposal; write ``proposal.html``."""
    customer, site = _customer_site(session, reference)
    devices = tuple(
        DeviceSummary(DeviceKind(d.kind), d.parameters)
        for d in session.scalars(select(Device).where(Device.site_id == site.id))
    )
    quotation = build_quotation(
        quotation_lines(offer), terms.currency, at, at + OFFER_VALIDITY
    )
    proposal = build_proposal(
        reference,
        customer.name,
        offer.program_name,
        terms,
        devices,
        site_history(session, site, weather, at),
        quotation,
        at,
    )
    contract_id = contracting.create_draft(
        session, customer.id, program_id, terms, at, "sales"
    )
    html = DocumentRenderer().proposal(proposal)
    document = contracting.store_document(
        session,
        customer.id,
        "proposal",
        html,
        terms.parameters_hash(),
        at,
        contract_id=contract_id,
        details={"quotation": quotation.to_json()},
    )
    path = _write(output_dir, reference, "proposal.html", html)
    competition.check_site(session, site.id, at)
    flags = competition.open_flags(session, [site.id], program_id).get(site.id, [])
    return Issued(
        contract_id,
        {"proposal": document.id},
        [path],
        tuple(
            f"site {site.id}, flag {f.id}: dual enrollment, {f.detail}" for f in flags
        ),
    )


def _quotation(details: dict) -> Quotation:
    q = details["quotation"]
    lines = [
        QuoteLine(
            LineCategory(line["category"]),
            line["description"],
            Decimal(line["amount"]),
            line["payment_timing"],
        )
        for line in q["lines"]
    ]
    return build_quotation(
        lines,
        q["currency"],
        datetime.fromisoformat(q["issued_at"]),
        datetime.fromisoformat(q["valid_until"]),
        Decimal(q["total"]),
    )


def offer_contract(
    session: Session,
    contract_id: int,
    offer: ProgramOffer,
    at: datetime,
    output_dir: Path,
) -> Issued:
    """Generate Key Facts and terms from a draft contract and offer all three documents.

    Raises
    ------
    ReadabilityError
        If the generated Key Facts fail the plain-language gate.
    TransitionError
        If the contract is not a draft.
    """
    contract = session.get(Contract, contract_id)
    proposal = session.scalars(
        select(EnrollmentDocument).where(
            EnrollmentDocument.contract_id == contract_id,
            EnrollmentDocument.kind == "proposal",
        )
    ).first()
    if contract is None or proposal is None:
        raise NotFoundError(
            f"contract {contract_id} with a proposal not found: "
            "create one with `coflex proposal create`",
            value=contract_id,
            field="contract_id",
        )
    customer = session.get(Customer, contract.customer_id)
    _, site = _customer_site(session, customer.reference)  # type: ignore[union-attr]
    terms = ProgramTerms.from_json(contract.terms)
    ends, rule = cooling_off_end(at, offer.jurisdiction, site.timezone)
    facts = ContractFacts(
        offer.parties,
        offer.program_name,
        customer.name,  # type: ignore[union-attr]
        customer.reference,  # type: ignore[union-attr]
        terms,
        _quotation(proposal.details or {}),
        (ends - at).days,
        rule.source,
        offer.obligations,
        offer.data_uses,
        offer.permissions,
        at,
    )
    key_facts, readability = build_key_facts(facts)
    renderer = DocumentRenderer()
    ids, paths = {"proposal": proposal.id}, []
    for kind, html, name, details in (
        (
            "key_facts",
            renderer.document(key_facts, facts, readability),
            "key-facts.html",
            {"grade": readability.grade, "words": readability.words},
        ),
        ("terms", renderer.document(build_terms(facts), facts), "contract.html", None),
    ):
        document = contracting.store_document(
            session,
            contract.customer_id,
            kind,
            html,
            contract.terms_hash,
            at,
            details=details,
        )
        ids[kind] = document.id
        paths.append(_write(output_dir, facts.customer_ref, name, html))
    valid_until = max(at + timedelta(days=30), proposal.issued_at + OFFER_VALIDITY)
    contracting.offer(
        session,
        contract_id,
        contracting.OfferedDocuments(ids["proposal"], ids["key_facts"], ids["terms"]),
        valid_until,
        at,
        "sales",
    )
    return Issued(contract_id, ids, paths)


def document_text(document: EnrollmentDocument) -> str:
    return zlib.decompress(document.body_zlib).decode("utf-8")


def _write(output_dir: Path, reference: str, name: str, html: str) -> Path:
    folder = output_dir / "customers" / reference
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(html, encoding="utf-8")
    return path
