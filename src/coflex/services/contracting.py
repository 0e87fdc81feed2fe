"""Contract use cases: draft, offer, accept, cancel, activate, amend, terminate.

Each function takes the caller's session, checks the change against the
state machine in :mod:`coflex.domain.enrollment.contract` before it writes
anything, and records the change in ``contract_transitions``. The caller runs
it inside :func:`coflex.adapters.store.database.transaction`, so a rejected
change stores nothing.
"""

from __future__ import annotations

import hashlib
import logging
import zlib
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from coflex.adapters.store.models import (
    Aggregator,
    Contract,
    Customer,
    Program,
    Settlement,
)
from coflex.adapters.store.models_enrollment import (
    ContractAcceptance,
    ContractAmendment,
    ContractOffer,
    ContractTermination,
    ContractTransition,
    EnrollmentDocument,
)
from coflex.domain.administration import retention
from coflex.domain.administration.policy import POLICIES
from coflex.domain.enrollment.contract import (
    ConsentEvidence,
    ContractAction,
    ContractStatus,
    TransitionContext,
    check_amendment_notice,
    check_consent,
    next_status,
)
from coflex.domain.enrollment.cooling_off import cooling_off_end
from coflex.domain.programs import ProgramTerms, check_contract_terms
from coflex.errors import NotFoundError, RuleViolation, TransitionError
from coflex.services import competition

logger = logging.getLogger(__name__)


def _contract(session: Session, contract_id: int) -> Contract:
    contract = session.get(Contract, contract_id, with_for_update=True)
    if contract is None:
        raise NotFoundError(
            f"contract {contract_id} not found: list contracts with "
            "`coflex contract show`",
            value=contract_id,
            field="contract_id",
        )
    return contract


def _move(
    session: Session,
    contract: Contract,
    action: ContractAction,
    context: TransitionContext,
    actor: str,
    detail: str | None = None,
) -> ContractStatus:
    """Check one change, apply it to the contract row and record it."""
    before = ContractStatus(contract.status)
    after = next_status(before, action, context)
    contract.status = after.value
    session.add(
        ContractTransition(
            contract_id=contract.id,
            from_status=before.value,
            to_status=after.value,
            action=action.value,
            at=context.at,
            actor=actor,
            detail=detail,
        )
    )
    logger.info("contract %s: %s -> %s", contract.id, before.value, after.value)
    return after


def create_draft(
    session: Session,
    customer_id: int,
    program_id: int,
    terms: ProgramTerms,
    at: datetime,
    actor: str,
) -> int:
    """Store a draft contract under ``terms`` and return its id.

    Raises
    ------
    RuleViolation
        If ``terms`` are looser than the program's (a contract may only be
        stricter), or the program does not exist.
    """
    program = session.get(Program, program_id)
    if program is None:
        raise RuleViolation(
            f"program {program_id} not found: give the id of a registered program",
            value=program_id,
            field="program_id",
        )
    check_contract_terms(ProgramTerms.from_json(program.terms), terms)
    contract = Contract(
        customer_id=customer_id,
        program_id=program_id,
        status=ContractStatus.DRAFT.value,
        accepted_at=None,
        cooling_off_ends_at=None,
        activated_at=None,
        terminated_at=None,
        terms=terms.to_json(),
        terms_hash=terms.parameters_hash(),
    )
    session.add(contract)
    session.flush()
    session.add(
        ContractTransition(
            contract_id=contract.id,
            from_status=None,
            to_status=ContractStatus.DRAFT.value,
            action="create",
            at=at,
            actor=actor,
        )
    )
    return contract.id


def compress(html: str) -> tuple[bytes, str]:
    """Return a document's zlib-compressed body and the SHA-256 of its text."""
    data = html.encode("utf-8")
    return zlib.compress(data, 6), hashlib.sha256(data).hexdigest()


def store_document(
    session: Session,
    customer_id: int,
    kind: str,
    html: str,
    parameters_hash: str,
    issued_at: datetime,
    *,
    contract_id: int | None = None,
    details: dict[str, object] | None = None,
) -> EnrollmentDocument:
    """Store one issued document whole, with its hash."""
    body, digest = compress(html)
    document = EnrollmentDocument(
        customer_id=customer_id,
        contract_id=contract_id,
        kind=kind,
        content_hash=digest,
        parameters_hash=parameters_hash,
        issued_at=issued_at,
        body_zlib=body,
        details=details,
    )
    session.add(document)
    session.flush()
    return document


@dataclass(frozen=True)
class OfferedDocuments:
    proposal_id: int
    key_facts_id: int
    terms_id: int


def offer(
    session: Session,
    contract_id: int,
    documents: OfferedDocuments,
    valid_until: datetime,
    at: datetime,
    actor: str,
) -> None:
    """Offer a draft contract with its proposal, Key Facts and terms.

    Raises
    ------
    TransitionError
        If the contract is not a draft, or a document states operational
        parameters other than the contract's (a different parameter hash).
    """
    contract = _contract(session, contract_id)
    ids = (documents.proposal_id, documents.key_facts_id, documents.terms_id)
    for kind, document_id in zip(("proposal", "key_facts", "terms"), ids, strict=True):
        document = session.get(EnrollmentDocument, document_id)
        if document is None or document.kind != kind:
            raise NotFoundError(
                f"{kind} document {document_id} not found: generate it first",
                value=document_id,
                field=kind,
            )
        if document.parameters_hash != contract.terms_hash:
            raise TransitionError(
                f"{kind} document {document_id} states parameters "
                f"{document.parameters_hash[:12]}…, the contract "
                f"{contract.terms_hash[:12]}…: regenerate it from the contract terms",
                value=document.parameters_hash,
                field="parameters_hash",
            )
        document.contract_id = contract.id
    _move(session, contract, ContractAction.OFFER, TransitionContext(at), actor)
    session.add(
        ContractOffer(
            contract_id=contract.id,
            offered_at=at,
            valid_until=valid_until,
            offered_by=actor,
            proposal_id=documents.proposal_id,
            key_facts_id=documents.key_facts_id,
            terms_id=documents.terms_id,
        )
    )


def offered_hashes(session: Session, contract_id: int) -> tuple[ContractOffer, dict]:
    """Return the stored offer of a contract and its documents' hashes by kind."""
    offer_row = session.scalars(
        select(ContractOffer).where(ContractOffer.contract_id == contract_id)
    ).one_or_none()
    if offer_row is None:
        raise TransitionError(
            f"contract {contract_id} was never offered: offer it before acceptance",
            value=contract_id,
            field="contract_id",
        )
    hashes = {}
    for kind, document_id in (
        ("proposal", offer_row.proposal_id),
        ("key_facts", offer_row.key_facts_id),
        ("terms", offer_row.terms_id),
    ):
        hashes[kind] = session.get(EnrollmentDocument, document_id).content_hash  # type: ignore[union-attr]
    return offer_row, hashes


def accept(
    session: Session,
    contract_id: int,
    evidence: ConsentEvidence,
    jurisdiction: str,
    timezone: str,
) -> datetime:
    """Record the customer's acceptance and start the cooling-off period.

    Returns
    -------
    datetime
        When the cooling-off period ends (the latest end of the rules that
        apply in ``jurisdiction``).

    Raises
    ------
    TransitionError
        If the contract is not offered or the offer lapsed.
    ConsentError
        If the evidence is incomplete or names documents other than those
        offered.
    """
    contract = _contract(session, contract_id)
    offer_row, hashes = offered_hashes(session, contract_id)
    at = evidence.accepted_at
    context = TransitionContext(at, offer_valid_until=offer_row.valid_until)
    next_status(ContractStatus(contract.status), ContractAction.ACCEPT, context)
    check_consent(evidence, hashes)

    ends, rule = cooling_off_end(at, jurisdiction, timezone)
    _move(session, contract, ContractAction.ACCEPT, context, evidence.accepted_by)
    contract.accepted_at = at
    session.add(
        ContractAcceptance(
            contract_id=contract.id,
            accepted_by=evidence.accepted_by,
            accepted_at=at,
            channel=evidence.channel,
            ip_address=evidence.ip_address,
            user_agent=evidence.user_agent,
            recording_ref=evidence.recording_ref,
            document_hashes=dict(evidence.document_hashes),
            cooling_off_rule=rule.source,
        )
    )
    contract.cooling_off_ends_at = ends
    _move(
        session,
        contract,
        ContractAction.BEGIN_COOLING_OFF,
        TransitionContext(at),
        "coflex",
        f"ends {ends.isoformat()} ({rule.source})",
    )
    return ends


def activate(session: Session, contract_id: int, at: datetime, actor: str) -> None:
    """Activate a contract whose cooling-off period has ended.

    Raises
    ------
    TransitionError
        If the contract is not in cooling-off, or its period has not ended.
    """
    contract = _contract(session, contract_id)
    context = TransitionContext(at, cooling_off_ends_at=contract.cooling_off_ends_at)
    _move(session, contract, ContractAction.ACTIVATE, context, actor)
    contract.activated_at = at


def cancel(
    session: Session, contract_id: int, at: datetime, actor: str, reason: str
) -> None:
    """Cancel during the cooling-off period, at no cost to the customer.

    Raises
    ------
    TransitionError
        If the cooling-off period has ended (terminate instead).
    """
    contract = _contract(session, contract_id)
    context = TransitionContext(at, cooling_off_ends_at=contract.cooling_off_ends_at)
    _move(session, contract, ContractAction.CANCEL, context, actor, reason[:300])
    competition.revoke_control(session, contract.customer_id, at)


def notify_amendment(
    session: Session,
    contract_id: int,
    terms: ProgramTerms,
    notified_at: datetime,
    effective_at: datetime,
) -> int:
    """Record the notice of a change of terms; return the amendment id.

    Raises
    ------
    TransitionError
        If the contract is not active, or the notice is shorter than 30 days.
    """
    contract = _contract(session, contract_id)
    if contract.status != ContractStatus.ACTIVE.value:
        raise TransitionError(
            f"cannot amend contract {contract_id}, which is {contract.status}: "
            "only an active contract is amended",
            value=contract.status,
            field="status",
        )
    check_amendment_notice(notified_at, effective_at)
    amendment = ContractAmendment(
        contract_id=contract_id,
        terms=terms.to_json(),
        terms_hash=terms.parameters_hash(),
        notified_at=notified_at,
        effective_at=effective_at,
        status="notified",
        decided_at=None,
    )
    session.add(amendment)
    session.flush()
    return amendment.id


def apply_amendment(
    session: Session, amendment_id: int, at: datetime, actor: str
) -> None:
    """Put a notified amendment into effect on or after its effective time.

    Raises
    ------
    TransitionError
        If the amendment is not pending, ``at`` is before its effective time,
        or the contract is no longer active.
    """
    amendment = session.get(ContractAmendment, amendment_id)
    if amendment is None or amendment.status != "notified":
        raise TransitionError(
            f"amendment {amendment_id} is not pending: notify one first",
            value=amendment_id,
            field="amendment_id",
        )
    if at < amendment.effective_at:
        raise TransitionError(
            f"amendment {amendment_id} takes effect "
            f"{amendment.effective_at.isoformat()}, not at {at.isoformat()}: "
            "apply it on or after that time",
            value=at,
            field="at",
        )
    contract = _contract(session, amendment.contract_id)
    context = TransitionContext(at, amendment_notified_at=amendment.notified_at)
    _move(session, contract, ContractAction.AMEND, context, actor, amendment.terms_hash)
    contract.terms = amendment.terms
    contract.terms_hash = amendment.terms_hash
    amendment.status = "applied"
    amendment.decided_at = at


def terminate(
    session: Session,
    contract_id: int,
    at: datetime,
    actor: str,
    reason: str,
    final_statement_html: str,
) -> int:
    """End an active contract: release control, issue the final statement, keep records.

    No exit fee is charged. The devices are released through
    :func:`coflex.services.competition.release_devices`. A pending amendment
    lapses. Render ``final_statement_html`` with the date from
    :func:`termination_retain_until`. Returns the id of the stored final
    statement.
    """
    contract = _contract(session, contract_id)
    _move(session, contract, ContractAction.TERMINATE, TransitionContext(at), actor)
    contract.terminated_at = at
    competition.release_devices(session, contract.customer_id, at, actor)
    session.execute(
        update(ContractAmendment)
        .where(
            ContractAmendment.contract_id == contract_id,
            ContractAmendment.status == "notified",
        )
        .values(status="lapsed", decided_at=at)
    )
    statement = store_document(
        session,
        contract.customer_id,
        "final_statement",
        final_statement_html,
        contract.terms_hash,
        at,
        contract_id=contract_id,
    )
    session.add(
        ContractTermination(
            contract_id=contract_id,
            terminated_at=at,
            requested_by=actor,
            reason=reason[:300],
            exit_fee=0.0,
            devices_released_at=at,
            final_statement_id=statement.id,
            retain_until=termination_retain_until(session, contract_id, at),
        )
    )
    return statement.id


def termination_retain_until(session: Session, contract_id: int, at: datetime) -> date:
    """Return the retain-until day of a contract terminated at ``at``."""
    contract = _contract(session, contract_id)
    program = session.get(Program, contract.program_id)
    aggregator = session.get(Aggregator, program.aggregator_id)  # type: ignore[union-attr]
    return retain_until(
        contract.accepted_at or at,
        at,
        aggregator.jurisdiction,  # type: ignore[union-attr]
    )


def retain_until(
    accepted_at: datetime, terminated_at: datetime, jurisdiction: str
) -> date:
    """Return the first day on which a terminated contract's records may be purged.

    The records are kept for the longest of the jurisdiction's minimum, the
    end of the contract plus 2 years, and 6 years from acceptance: the rule
    of :func:`coflex.domain.administration.retention.retain_until`, which the
    purge applies too.
    """
    policy = POLICIES.get(jurisdiction)
    minimum_years = policy.record_min_years if policy else 0
    until = retention.retain_until(accepted_at, terminated_at, minimum_years)
    assert until is not None  # a terminated contract always has an end
    return until.date()


def settled_total(session: Session, customer_id: int) -> tuple[float, int]:
    """Return the customer's total settled payments and the number of events."""
    rows = session.execute(
        select(Settlement.payment).where(Settlement.customer_id == customer_id)
    ).all()
    return float(sum(row[0] for row in rows)), len(rows)


def customer_of(session: Session, contract_id: int) -> Customer:
    contract = _contract(session, contract_id)
    customer = session.get(Customer, contract.customer_id)
    assert customer is not None
    return customer
