"""The after-start notice of an emergency event, enforced while the event runs.

An emergency event may start without advance notice, but each customer must
be told no later than ``EMERGENCY_NOTICE_AFTER_S`` after the start. When that
time comes, every site whose notice has no delivery receipt by then is
released and withdrawn from the event with its reason, and the event report
counts these sites.

References
----------
PG&E SmartAC program terms: emergency events start without notice, and the
customer is told after the start.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy.orm import Session

from coflex.domain.fleet import ExclusionReason
from coflex.domain.operations.notice_changes import emergency_notice_due
from coflex.domain.programs import EventClass
from coflex.services.event_changes import withdraw_sites

if TYPE_CHECKING:
    from coflex.services.dispatch import EventRunner

logger = logging.getLogger(__name__)


def unnotified_sites(runner: EventRunner, at: datetime) -> list[int]:
    """Return the positions of taking-part sites whose notice missed the hour.

    Before the deadline, and for events of other classes, the list is empty.
    Sites whose every candidate device is already released are left out.
    """
    request = runner.p.request
    if request.event_class is not EventClass.EMERGENCY:
        return []
    due = emergency_notice_due(request.start)
    if at < due:
        return []
    sites = runner.p.index.device_site[runner.p.candidate_device_pos]
    open_sites = np.unique(sites[~runner.released]).tolist()
    missed = []
    for s in open_sites:
        delivered = runner.p.notice_delivered_at.get(s)
        if delivered is None or delivered > due:
            missed.append(int(s))
    return missed


def withdraw_unnotified(runner: EventRunner, session: Session, at: datetime) -> int:
    """Withdraw the sites whose emergency notice missed the hour; return how many.

    The runner releases them through the pending withdrawals it applies at
    the same step.
    """
    missed = unnotified_sites(runner, at)
    if not missed:
        return 0
    index = runner.p.index
    due = emergency_notice_due(runner.p.request.start)
    withdraw_sites(
        session,
        runner.p.event_id,
        [(int(index.site_id[s]), int(index.customer_id[s])) for s in missed],
        ExclusionReason.EMERGENCY_NOTICE_MISSED,
        f"no notice delivered by {due.isoformat()}, one hour after the "
        "emergency event started",
        channel="coflex",
        account_id=None,
        at=at,
    )
    session.flush()
    logger.warning(
        "event %s: %d sites released because their emergency notice was not "
        "delivered within the hour",
        runner.p.event_id,
        len(missed),
    )
    return len(missed)
