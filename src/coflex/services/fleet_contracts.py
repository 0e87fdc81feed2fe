"""Enrolling a whole fleet through the contract path, in bulk.

Every customer gets a proposal, Key Facts and contract terms generated from
their contract data, and their contract walks the state machine: draft,
offered, accepted with consent evidence, cooling-off, then active (and for
some, terminated). The same domain rules as in
:mod:`coflex.services.contracting` check each step. Only the writes are
batched, so that a large fleet enrolls quickly.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from coflex.adapters.readers.weather import WeatherSeries
from coflex.adapters.store.bulk import insert_returning_ids, insert_rows
from coflex.adapters.store.models import Contract, Device
from coflex.adapters.store.models_enrollment import (
    ContractAcceptance,
    ContractOffer,
    ContractTermination,
    ContractTransition,
    EnrollmentDocument,
)
from coflex.domain.enrollment.competition import DEMAND_RESPONSE, check_no_exit_fees
from coflex.domain.enrollment.contract import (
    ConsentEvidence,
    ContractAction,
    ContractStatus,
    TransitionContext,
    check_consent,
    next_status,
)
from coflex.domain.enrollment.cooling_off import cooling_off_end
from coflex.domain.enrollment.key_facts import (
    ContractFacts,
    Obligation,
    Parties,
    build_key_facts,
    build_terms,
)
from coflex.domain.enrollment.parameters import terms_hash
from coflex.domain.enrollment.proposals import (
    DeviceSummary,
    SiteHistory,
    build_proposal,
)
from coflex.domain.enrollment.quotation import (
    LineCategory,
    QuoteLine,
    build_quotation,
    tax_line,
)
from coflex.domain.fleet import DeviceKind
from coflex.domain.programs import ProgramTerms, check_contract_terms
from coflex.errors import InputError
from coflex.services import competition
from coflex.services.contracting import compress, retain_until
from coflex.services.enrollment_documents import DocumentRenderer, final_statement_html

logger = logging.getLogger(__name__)

SLOTS_PER_DAY = 288  # 5-minute base-load grid
AFTERNOON = (15, 18)  # local hours of the estimate window
OFFER_LEAD = timedelta(days=5)
OFFER_VALIDITY = timedelta(days=30)


@dataclass(frozen=True)
class ProgramOffer:
    """The program's offer to every customer, as priced in the quotation.

    Attributes
    ----------
    customer_class : str
        ``"household"`` or ``"business"``: who the offer is made to.
    exit_fee, switching_fee : Decimal
        Fees for ending the contract or moving to another provider
        [currency units]; zero for households.
    service : str
        The grid service the program provides, for the dual-enrollment check.
    """

    program_name: str
    parties: Parties
    jurisdiction: str
    sign_up_incentive: Decimal
    program_fee: Decimal
    sales_tax_rate: Decimal
    obligations: tuple[Obligation, ...]
    data_uses: tuple[str, ...]
    permissions: tuple[str, ...]
    customer_class: str = "household"
    exit_fee: Decimal = Decimal("0.00")
    switching_fee: Decimal = Decimal("0.00")
    service: str = DEMAND_RESPONSE

    def __post_init__(self) -> None:
        check_no_exit_fees(self.customer_class, self.exit_fee, self.switching_fee)
        # TODO: the Key Facts and terms state that leaving is free, so an
        # offer with any exit or switching fee is rejected until they can
        # state one.
        for name, fee in (
            ("exit_fee", self.exit_fee),
            ("switching_fee", self.switching_fee),
        ):
            if fee > 0:
                raise InputError(
                    f"{name} {fee} cannot be stated in the Key Facts, which say "
                    "leaving is free: offer the program without it",
                    value=str(fee),
                    field=name,
                )

    def to_json(self) -> dict[str, object]:
        """Return the offer as JSON values, amounts as decimal strings."""
        payload = asdict(self)
        for name in (
            "sign_up_incentive",
            "program_fee",
            "sales_tax_rate",
            "exit_fee",
            "switching_fee",
        ):
            payload[name] = str(payload[name])
        return payload

    @classmethod
    def from_json(cls, payload: dict[str, Any]) -> ProgramOffer:
        values = dict(payload)
        values["parties"] = Parties(**values["parties"])
        values["obligations"] = tuple(Obligation(**o) for o in values["obligations"])
        for name in ("data_uses", "permissions"):
            values[name] = tuple(values[name])
        for name in (
            "sign_up_incentive",
            "program_fee",
            "sales_tax_rate",
            "exit_fee",
            "switching_fee",
        ):
            if name in values:
                values[name] = Decimal(values[name])
        return cls(**values)


@dataclass(frozen=True)
class FleetCustomer:
    """One customer's standing for the bulk path, in site order."""

    customer_id: int
    site_id: int
    reference: str
    name: str
    timezone: str
    accepted_at: datetime
    acceptance_channel: str
    stricter_terms: bool
    in_cooling_off: bool
    terminated_at: datetime | None


def site_histories(
    base_load_kw: np.ndarray, weather: WeatherSeries, timezone: str, days: int
) -> list[SiteHistory]:
    """Summarise each site's own load and the weather for its proposal.

    Parameters
    ----------
    base_load_kw : numpy.ndarray
        [site, day * 288] household load on the local 5-minute grid [kW].
    days : int
        Whole days of history at the start of the grid to use.
    """
    grid = base_load_kw[:, : days * SLOTS_PER_DAY].reshape(len(base_load_kw), days, -1)
    first, last = (h * SLOTS_PER_DAY // 24 for h in AFTERNOON)
    afternoon_kw = grid[:, :, first:last].mean(axis=(1, 2))
    local = pd.Series(
        weather.temp_air_c, index=pd.DatetimeIndex(weather.times, tz="UTC")
    ).tz_convert(timezone)
    hours = local.index.hour
    window = local[(hours >= AFTERNOON[0]) & (hours < AFTERNOON[1])]
    hottest = float(window.groupby(window.index.date).mean().max())
    return [SiteHistory(days, float(kw), hottest) for kw in afternoon_kw]


def quotation_lines(offer: ProgramOffer) -> list[QuoteLine]:
    """Return the itemised lines every customer of the program is quoted."""
    lines = [
        QuoteLine(
            LineCategory.EQUIPMENT,
            "Your own devices (nothing to buy)",
            Decimal("0.00"),
            "not charged",
        ),
        QuoteLine(
            LineCategory.INSTALLATION,
            "Set-up through your device's app (no visit)",
            Decimal("0.00"),
            "not charged",
        ),
        QuoteLine(LineCategory.FEE, "Plan fee", offer.program_fee, "monthly"),
    ]
    lines.append(tax_line(lines[2:], offer.sales_tax_rate, "Sales tax on fees"))
    lines.append(
        QuoteLine(
            LineCategory.INCENTIVE,
            "Sign-up reward",
            -offer.sign_up_incentive,
            "after your first event",
        )
    )
    return lines


def _devices_by_site(session: Session, site_ids: Sequence[int]) -> dict[int, list]:
    found: dict[int, list[DeviceSummary]] = {s: [] for s in site_ids}
    rows = session.execute(
        select(Device.site_id, Device.kind, Device.parameters).order_by(Device.id)
    ).all()
    for site_id, kind, parameters in rows:
        if site_id in found:
            found[site_id].append(DeviceSummary(DeviceKind(kind), parameters))
    return found


@dataclass
class _Batch:
    contracts: list[dict]
    documents: list[dict]
    lifecycle: list[list[tuple[ContractAction, TransitionContext, str, str | None]]]
    evidence: list[tuple[ConsentEvidence, str]]


def _documents(
    renderer: DocumentRenderer,
    offer: ProgramOffer,
    customer: FleetCustomer,
    terms: ProgramTerms,
    devices: list[DeviceSummary],
    history: SiteHistory,
    output_dir: Path,
) -> tuple[list[dict], dict[str, str]]:
    """Generate, check and write the three documents one customer is offered."""
    offered_at = customer.accepted_at - OFFER_LEAD
    quotation = build_quotation(
        quotation_lines(offer), terms.currency, offered_at, offered_at + OFFER_VALIDITY
    )
    proposal = build_proposal(
        customer.reference,
        customer.name,
        offer.program_name,
        terms,
        tuple(devices),
        history,
        quotation,
        offered_at,
    )
    ends, rule = cooling_off_end(offered_at, offer.jurisdiction, customer.timezone)
    facts = ContractFacts(
        offer.parties,
        offer.program_name,
        customer.name,
        customer.reference,
        terms,
        quotation,
        (ends - offered_at).days,
        rule.source,
        offer.obligations,
        offer.data_uses,
        offer.permissions,
        offered_at,
    )
    key_facts, readability = build_key_facts(facts)
    rendered = {
        "proposal": (renderer.proposal(proposal), None),
        "key_facts": (
            renderer.document(key_facts, facts, readability),
            {"grade": readability.grade, "words": readability.words},
        ),
        "terms": (renderer.document(build_terms(facts), facts), None),
    }
    rows, hashes = [], {}
    names = {"proposal": "proposal.html", "key_facts": "key-facts.html"}
    folder = output_dir / "customers" / customer.reference
    folder.mkdir(parents=True, exist_ok=True)
    for kind, (html, details) in rendered.items():
        body, digest = compress(html)
        hashes[kind] = digest
        rows.append(
            {
                "customer_id": customer.customer_id,
                "contract_id": None,
                "kind": kind,
                "content_hash": digest,
                "parameters_hash": terms_hash(terms),
                "issued_at": offered_at,
                "body_zlib": body,
                "details": details,
            }
        )
        (folder / names.get(kind, "contract.html")).write_text(html, encoding="utf-8")
    return rows, hashes


def _lifecycle(
    customer: FleetCustomer, ends: datetime, valid_until: datetime
) -> list[tuple[ContractAction, TransitionContext, str, str | None]]:
    """Walk one contract through the state machine; raise on a forbidden step."""
    offered_at = customer.accepted_at - OFFER_LEAD
    steps = [
        (ContractAction.OFFER, TransitionContext(offered_at), "sales", None),
        (
            ContractAction.ACCEPT,
            TransitionContext(customer.accepted_at, offer_valid_until=valid_until),
            customer.name,
            None,
        ),
        (
            ContractAction.BEGIN_COOLING_OFF,
            TransitionContext(customer.accepted_at),
            "coflex",
            f"ends {ends.isoformat()}",
        ),
    ]
    if not customer.in_cooling_off:
        steps.append(
            (
                ContractAction.ACTIVATE,
                TransitionContext(ends, cooling_off_ends_at=ends),
                "coflex",
                None,
            )
        )
    if customer.terminated_at is not None:
        steps.append(
            (
                ContractAction.TERMINATE,
                TransitionContext(customer.terminated_at),
                customer.name,
                "customer left the program",
            )
        )
    status = ContractStatus.DRAFT
    for action, context, _, _ in steps:
        status = next_status(status, action, context)
    return steps


def _evidence(customer: FleetCustomer, hashes: dict[str, str]) -> ConsentEvidence:
    """Return the acceptance evidence of the demo's simulated sign-up."""
    online = customer.acceptance_channel in ("web", "app")
    # Addresses from the RFC 5737 documentation range, never a real host.
    host = customer.customer_id % 254 + 1
    return ConsentEvidence(
        accepted_by=customer.name,
        accepted_at=customer.accepted_at,
        channel=customer.acceptance_channel,
        document_hashes=hashes,
        ip_address=f"198.51.100.{host}" if online else None,
        user_agent="coflex-demo-signup/1.0" if online else None,
        recording_ref=None if online else f"call-{customer.reference}",
    )


def enroll_contracts(
    session: Session,
    program_id: int,
    offer: ProgramOffer,
    terms: ProgramTerms,
    customers: Sequence[FleetCustomer],
    histories: Sequence[SiteHistory],
    output_dir: Path,
    *,
    stricter_cap: int,
    on_customer: Callable[[], None] | None = None,
) -> np.ndarray:
    """Offer, accept and activate every customer's contract; return the contract ids.

    Customers with ``stricter_terms`` sign the program terms with a season cap
    of ``stricter_cap`` events. Documents go to
    ``output_dir/customers/<reference>/``.

    Raises
    ------
    TransitionError, ConsentError, ReadabilityError, QuotationError
        If any customer's path breaks a rule; nothing is stored then, because
        the caller's transaction rolls back.
    """
    renderer = DocumentRenderer()
    variants = {False: terms, True: replace(terms, max_events_per_season=stricter_cap)}
    for variant in variants.values():
        check_contract_terms(terms, variant)
    devices = _devices_by_site(session, [c.site_id for c in customers])
    batch = _Batch([], [], [], [])
    for customer, history in zip(customers, histories, strict=True):
        chosen = variants[customer.stricter_terms]
        rows, hashes = _documents(
            renderer,
            offer,
            customer,
            chosen,
            devices[customer.site_id],
            history,
            output_dir,
        )
        ends, rule = cooling_off_end(
            customer.accepted_at, offer.jurisdiction, customer.timezone
        )
        valid_until = customer.accepted_at - OFFER_LEAD + OFFER_VALIDITY
        steps = _lifecycle(customer, ends, valid_until)
        evidence = _evidence(customer, hashes)
        check_consent(evidence, hashes)
        batch.contracts.append(_contract_row(customer, program_id, chosen, ends))
        batch.documents.extend(rows)
        batch.lifecycle.append(steps)
        batch.evidence.append((evidence, rule.source))
        if on_customer is not None:
            on_customer()
    contract_ids = _store(session, batch, customers, renderer, offer)
    logger.info("enrolled %d contracts through the contract path", len(contract_ids))
    return contract_ids


@lru_cache(maxsize=16)
def _terms_json(terms: ProgramTerms) -> dict[str, object]:
    return terms.to_json()


def _contract_row(
    customer: FleetCustomer, program_id: int, terms: ProgramTerms, ends: datetime
) -> dict:
    if customer.terminated_at is not None:
        status = ContractStatus.TERMINATED
    elif customer.in_cooling_off:
        status = ContractStatus.COOLING_OFF
    else:
        status = ContractStatus.ACTIVE
    return {
        "customer_id": customer.customer_id,
        "program_id": program_id,
        "status": status.value,
        "accepted_at": customer.accepted_at,
        "cooling_off_ends_at": ends,
        "activated_at": None if customer.in_cooling_off else ends,
        "terminated_at": customer.terminated_at,
        "terms": _terms_json(terms),
        "terms_hash": terms_hash(terms),
    }


def _store(
    session: Session,
    batch: _Batch,
    customers: Sequence[FleetCustomer],
    renderer: DocumentRenderer,
    offer: ProgramOffer,
) -> np.ndarray:
    contract_ids = insert_returning_ids(session, Contract, batch.contracts)
    for i, row in enumerate(batch.documents):
        row["contract_id"] = contract_ids[i // 3]
    document_ids = insert_returning_ids(session, EnrollmentDocument, batch.documents)
    transitions, offers, acceptances = [], [], []
    for i, contract_id in enumerate(contract_ids):
        transitions.extend(_transition_rows(contract_id, batch.lifecycle[i]))
        first = batch.lifecycle[i][0][1].at
        offers.append(
            {
                "contract_id": contract_id,
                "offered_at": first,
                "valid_until": first + OFFER_VALIDITY,
                "offered_by": "sales",
                "proposal_id": document_ids[3 * i],
                "key_facts_id": document_ids[3 * i + 1],
                "terms_id": document_ids[3 * i + 2],
            }
        )
        evidence, rule = batch.evidence[i]
        acceptances.append(_acceptance_row(contract_id, evidence, rule))
    insert_rows(session, ContractTransition, transitions)
    insert_rows(session, ContractOffer, offers)
    insert_rows(session, ContractAcceptance, acceptances)
    _terminate(session, contract_ids, customers, renderer, offer, batch)
    return np.array(contract_ids, dtype=np.int64)


def _transition_rows(contract_id: int, steps: list) -> list[dict]:
    rows = [
        {
            "contract_id": contract_id,
            "from_status": None,
            "to_status": ContractStatus.DRAFT.value,
            "action": "create",
            "at": steps[0][1].at,
            "actor": "sales",
            "detail": None,
        }
    ]
    status = ContractStatus.DRAFT
    for action, context, actor, detail in steps:
        after = next_status(status, action, context)
        rows.append(
            {
                "contract_id": contract_id,
                "from_status": status.value,
                "to_status": after.value,
                "action": action.value,
                "at": context.at,
                "actor": actor,
                "detail": detail,
            }
        )
        status = after
    return rows


def _acceptance_row(contract_id: int, evidence: ConsentEvidence, rule: str) -> dict:
    return {
        "contract_id": contract_id,
        "accepted_by": evidence.accepted_by,
        "accepted_at": evidence.accepted_at,
        "channel": evidence.channel,
        "ip_address": evidence.ip_address,
        "user_agent": evidence.user_agent,
        "recording_ref": evidence.recording_ref,
        "document_hashes": evidence.document_hashes,
        "cooling_off_rule": rule,
    }


def _terminate(
    session: Session,
    contract_ids: list[int],
    customers: Sequence[FleetCustomer],
    renderer: DocumentRenderer,
    offer: ProgramOffer,
    batch: _Batch,
) -> None:
    """Store the final statement, the termination record and the consent revocation."""
    ended = [
        (contract_ids[i], c, batch.contracts[i]["terms_hash"])
        for i, c in enumerate(customers)
        if c.terminated_at is not None
    ]
    if not ended:
        return
    statements = []
    for contract_id, customer, digest in ended:
        assert customer.terminated_at is not None
        html = final_statement_html(
            renderer,
            customer.name,
            customer.reference,
            offer.program_name,
            customer.terminated_at,
            0.0,
            0,
            "USD",
            retain_until(
                customer.accepted_at, customer.terminated_at, offer.jurisdiction
            ),
        )
        body, content_hash = compress(html)
        statements.append(
            {
                "customer_id": customer.customer_id,
                "contract_id": contract_id,
                "kind": "final_statement",
                "content_hash": content_hash,
                "parameters_hash": digest,
                "issued_at": customer.terminated_at,
                "body_zlib": body,
                "details": None,
            }
        )
    statement_ids = insert_returning_ids(session, EnrollmentDocument, statements)
    rows = []
    for (contract_id, customer, _), statement_id in zip(
        ended, statement_ids, strict=True
    ):
        at = customer.terminated_at
        assert at is not None
        rows.append(
            {
                "contract_id": contract_id,
                "terminated_at": at,
                "requested_by": customer.name,
                "reason": "customer left the program",
                "exit_fee": 0.0,
                "devices_released_at": at,
                "final_statement_id": statement_id,
                "retain_until": retain_until(
                    customer.accepted_at, at, offer.jurisdiction
                ),
            }
        )
        competition.release_devices(session, customer.customer_id, at, customer.name)
    insert_rows(session, ContractTermination, rows)
