"""The contract check before every curtailment command.

Eligibility is decided when the request arrives; a contract can be cancelled
or terminated, or a site flagged as enrolled with another provider, after
that. The event runner therefore reads each site's contract and open
dual-enrollment flags again in the transaction that sends a curtailment, and
releases any device whose site may not be dispatched.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from coflex.adapters.store.bulk import insert_rows
from coflex.adapters.store.models import Contract, EligibilityDecision, Site
from coflex.domain.enrollment.contract import permits_dispatch
from coflex.domain.fleet import ExclusionReason
from coflex.services import competition

if TYPE_CHECKING:
    from coflex.services.dispatch import EventRunner

logger = logging.getLogger(__name__)

CHUNK = 5_000


def contract_standing(
    session: Session, program_id: int, site_ids: Iterable[int]
) -> dict[int, tuple[str, datetime | None]]:
    """Return each site's latest contract status and cooling-off end in a program.

    Sites without a contract in the program are missing from the result.
    """
    wanted = sorted(set(site_ids))
    standing: dict[int, tuple[int, str, datetime | None]] = {}
    for first in range(0, len(wanted), CHUNK):
        rows = session.execute(
            select(Site.id, Contract.id, Contract.status, Contract.cooling_off_ends_at)
            .join(Contract, Contract.customer_id == Site.customer_id)
            .where(
                Contract.program_id == program_id,
                Site.id.in_(wanted[first : first + CHUNK]),
            )
        ).all()
        for site_id, contract_id, status, ends in rows:
            if site_id not in standing or contract_id > standing[site_id][0]:
                standing[site_id] = (contract_id, status, ends)
    return {site: (status, ends) for site, (_, status, ends) in standing.items()}


def apply(
    runner: EventRunner, session: Session, ks: np.ndarray, at: datetime
) -> np.ndarray:
    """Return the candidates whose contract permits dispatch at ``at``.

    Candidates of other sites are released for the rest of the event, and
    each such site gets an eligibility decision naming its contract status.
    """
    if len(ks) == 0:
        return ks
    p = runner.p
    site_pos = p.index.device_site[p.candidate_device_pos[ks]]
    site_ids = p.index.site_id[site_pos]
    standing = contract_standing(session, p.index.program_id, site_ids.tolist())
    flags = competition.open_flags(session, site_ids.tolist(), p.index.program_id)
    reasons: dict[int, tuple[ExclusionReason, str]] = {}
    for site_id in set(site_ids.tolist()):
        status, ends = standing.get(site_id, (None, None))
        if not permits_dispatch(status, ends, at):
            reasons[site_id] = (
                ExclusionReason.NO_ACTIVE_CONTRACT,
                f"contract status is {status or 'missing'} at dispatch",
            )
        elif site_id in flags:
            flag = flags[site_id][0]
            reasons[site_id] = (
                ExclusionReason.DUAL_ENROLLMENT,
                f"dual enrollment (flag {flag.id}): {flag.detail}"[:300],
            )
    if not reasons:
        return ks
    allowed = np.array([s not in reasons for s in site_ids.tolist()], dtype=bool)
    blocked = ks[~allowed]
    runner.released[blocked] = True
    runner.fraction[blocked] = 0.0
    rows = [
        {
            "event_id": p.event_id,
            "site_id": site_id,
            "device_id": None,
            "eligible": False,
            "reason": reason.value,
            "detail": detail,
            "decided_at": at,
        }
        for site_id, (reason, detail) in sorted(reasons.items())
    ]
    insert_rows(session, EligibilityDecision, rows)
    logger.warning(
        "event %s: %d devices held back: no active contract or dual enrollment",
        p.event_id,
        len(blocked),
    )
    return ks[allowed]
