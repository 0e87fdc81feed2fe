"""The contract check before every curtailment command.

Eligibility is decided when the request arrives; a contract can be cancelled
or terminated after that. The event runner therefore reads each site's
contract again in the transaction that sends a curtailment, and releases any
device whose contract no longer permits dispatch.
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
    allowed = np.array(
        [
            permits_dispatch(*standing.get(int(s), (None, None)), at)
            for s in site_ids.tolist()
        ],
        dtype=bool,
    )
    if allowed.all():
        return ks
    blocked = ks[~allowed]
    runner.released[blocked] = True
    runner.fraction[blocked] = 0.0
    rows = [
        {
            "event_id": p.event_id,
            "site_id": site_id,
            "device_id": None,
            "eligible": False,
            "reason": ExclusionReason.NO_ACTIVE_CONTRACT.value,
            "detail": f"contract status is {standing.get(site_id, ('missing',))[0]} "
            "at dispatch",
            "decided_at": at,
        }
        for site_id in sorted(set(site_ids[~allowed].tolist()))
    ]
    insert_rows(session, EligibilityDecision, rows)
    logger.warning(
        "event %s: %d devices held back because their contract is no longer active",
        p.event_id,
        len(blocked),
    )
    return ks[allowed]
