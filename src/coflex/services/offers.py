"""One customer's proposal and offer, for the CLI and the portals.

A proposal opens a draft contract under the program's terms; offering the
contract generates the Key Facts and terms from that contract and offers all
three documents. The fleet path in :mod:`coflex.services.fleet_contracts` does
the same in bulk.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
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
from coflex.services import contracting
from coflex.services.enrollment_documents import DocumentRenderer
from coflex.services.fleet_contracts import (
    OFFER_VALIDITY,
    ProgramOffer,
    quotation_lines,
    site_histories,
)

HISTORY_DAYS = 45


@dataclass(frozen=True)
class Issued:
    contract_id: int
    document_ids: dict[str, int]
    paths: list[Path]


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
    """Summarise the site's stored meter days before ``at`` for its proposal.

    Raises
    ------
    InputError
        If the site has no metered day before ``at``.
    """
    rows = session.execute(
        select(MeterDay.energy_kwh, MeterDay.interval_s)
        .where(MeterDay.site_id == site.id, MeterDay.day < at.date())
        .order_by(MeterDay.day.desc())
        .limit(HISTORY_DAYS)
    ).all()
    days = [
        np.frombuffer(data, dtype=np.float32) * 3600 / interval
        for data, interval in rows
        if len(data) // 4 == 86400 // interval  # days without a clock change
    ]
    if not days:
        raise InputError(
            f"site {site.id} has no meter data before {at.date()}: load its meter "
            "history before writing a proposal",
            value=site.id,
            field="site",
        )
    grid = np.stack([np.repeat(day, 288 // len(day)) for day in days])
    return site_histories(grid.reshape(1, -1), weather, site.timezone, len(days))[0]


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
    return Issued(contract_id, {"proposal": document.id}, [path])


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
