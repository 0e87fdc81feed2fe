"""Stored program offers: what each program charges and gives its customers.

A program's terms (the operational parameters) are in ``programs``. Its
commercial offer (fees, incentive, parties, obligations to others, data uses)
is in ``program_offers``, one per program. Proposals and Key Facts are
generated from both.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from coflex.adapters.store.models import Program
from coflex.adapters.store.models_enrollment import ProgramOfferRecord
from coflex.errors import NotFoundError
from coflex.services import audit
from coflex.services.fleet_contracts import ProgramOffer

logger = logging.getLogger(__name__)


def store_program_offer(
    session: Session, program_id: int, offer: ProgramOffer, at: datetime
) -> None:
    """Store or replace a program's offer.

    A replaced offer applies to proposals written from now on; contracts
    already offered keep the documents they were offered with.
    """
    program = find_program(session, str(program_id))
    row = session.scalar(
        select(ProgramOfferRecord).where(ProgramOfferRecord.program_id == program.id)
    )
    if row is None:
        row = ProgramOfferRecord(program_id=program.id, offer={}, stored_at=at)
        session.add(row)
    row.offer, row.stored_at = offer.to_json(), at
    session.flush()
    audit.append(
        session,
        [
            audit.AuditRecord(
                at=at,
                action="program_offer_stored",
                subject=f"program:{program.id}",
                details={
                    "customer_class": offer.customer_class,
                    "program_fee": str(offer.program_fee),
                    "exit_fee": str(offer.exit_fee),
                    "switching_fee": str(offer.switching_fee),
                },
            )
        ],
    )
    logger.info("offer of program %s stored", program.id)


def find_program(session: Session, id_or_name: str) -> Program:
    """Return the program with this id, or else with this name.

    Raises
    ------
    NotFoundError
        If no program has that id or name, listing the stored programs.
    """
    program = None
    if id_or_name.strip().isdigit():
        program = session.get(Program, int(id_or_name))
    if program is None:
        program = session.scalars(
            select(Program)
            .where(Program.name == id_or_name.strip())
            .order_by(Program.id.desc())
        ).first()
    if program is None:
        known = [
            f"{p.id} ({p.name})"
            for p in session.scalars(select(Program).order_by(Program.id).limit(20))
        ]
        raise NotFoundError(
            f"program {id_or_name!r} not found: give the id or name of a stored "
            f"program ({', '.join(known) or 'none stored; run `coflex demo`'})",
            value=id_or_name,
            field="program",
        )
    return program


def load_program_offer(session: Session, program: Program) -> ProgramOffer:
    """Return the stored offer of ``program``.

    Raises
    ------
    NotFoundError
        If the program has no stored offer.
    """
    payload = session.scalar(
        select(ProgramOfferRecord.offer).where(
            ProgramOfferRecord.program_id == program.id
        )
    )
    if payload is None:
        raise NotFoundError(
            f"program {program.id} ({program.name}) has no stored offer: store "
            "its fees, incentive and parties with "
            "`coflex enrollment store-offer` first",
            value=program.id,
            field="program",
        )
    return ProgramOffer.from_json(payload)
