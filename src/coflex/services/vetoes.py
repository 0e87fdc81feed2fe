"""Applying the pre-command veto inside the event runner, and recording vetoes."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy.orm import Session

from coflex.adapters.store.bulk import insert_rows
from coflex.adapters.store.models_operations import CommandVeto
from coflex.domain.fleet import DeviceKind
from coflex.domain.operations.veto import (
    POLICY_VERSION,
    CommandCheck,
    check_command,
    finite_or_nan,
)

if TYPE_CHECKING:
    from coflex.services.dispatch import EventRunner

logger = logging.getLogger(__name__)


def apply(
    runner: EventRunner, session: Session, ks: np.ndarray, at: datetime
) -> np.ndarray:
    """Return the candidates whose curtailment may be sent; record and release the rest.

    A vetoed candidate is released for the rest of the event, so the planner
    covers it with reserve instead of trying it again.
    """
    telemetry = runner.latest_telemetry()
    p = runner.p
    allowed, rows = [], []
    for k in ks.tolist():
        pos = int(p.candidate_device_pos[k])
        site = int(p.index.device_site[pos])
        age_s = (at - telemetry.at).total_seconds() if telemetry else float("inf")
        check = CommandCheck(
            kind=DeviceKind(p.index.device_kind[pos]),
            value=runner.control_value(k),
            limits=p.index.terms[site].limits,
            vulnerable=bool(p.index.vulnerable[site]),
            protected=bool(p.index.medical[site]),
            cooling=bool(p.forecast.cooling[pos]),
            telemetry_age_s=age_s,
            indoor_temp_c=finite_or_nan(telemetry.indoor_temp_c, pos)
            if telemetry
            else float("nan"),
            battery_soc_fraction=finite_or_nan(telemetry.battery_soc_fraction, pos)
            if telemetry
            else float("nan"),
            tank_temp_c=finite_or_nan(telemetry.tank_temp_c, pos)
            if telemetry
            else float("nan"),
        )
        veto = check_command(check)
        if veto is None:
            allowed.append(k)
            continue
        runner.released[k] = True
        runner.fraction[k] = 0.0
        rows.append(
            {
                "event_id": p.event_id,
                "device_id": int(p.candidates.device_id[k]),
                "vetoed_at": at,
                "rule": veto.rule,
                "detail": veto.detail[:300],
                "policy_version": POLICY_VERSION,
            }
        )
    if rows:
        insert_rows(session, CommandVeto, rows)
        runner.outcome.vetoes += len(rows)
        logger.info("event %s: %d commands vetoed by the policy", p.event_id, len(rows))
    return np.array(allowed, dtype=np.int64)
