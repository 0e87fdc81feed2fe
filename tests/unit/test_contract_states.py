"""The contract state machine: every allowed and every forbidden change."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coflex.domain.enrollment.contract import (
    TRANSITIONS,
    ConsentEvidence,
    ContractAction,
    ContractStatus,
    TransitionContext,
    check_consent,
    next_status,
    permits_dispatch,
)
from coflex.domain.enrollment.cooling_off import cooling_off_end
from coflex.errors import ConsentError, TransitionError

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
ENDS = NOW + timedelta(days=14)
HASHES = {"proposal": "a" * 64, "key_facts": "b" * 64, "terms": "c" * 64}


def _context_for(action: ContractAction) -> TransitionContext:
    """A context in which the timing rule of ``action`` holds."""
    if action is ContractAction.ACTIVATE:
        return TransitionContext(ENDS, cooling_off_ends_at=ENDS)
    if action is ContractAction.CANCEL:
        return TransitionContext(NOW, cooling_off_ends_at=ENDS)
    if action is ContractAction.ACCEPT:
        return TransitionContext(NOW, offer_valid_until=NOW + timedelta(days=30))
    if action is ContractAction.AMEND:
        return TransitionContext(NOW, amendment_notified_at=NOW - timedelta(days=30))
    return TransitionContext(NOW)


@pytest.mark.parametrize(("status", "action"), sorted(TRANSITIONS))
def test_allowed_transition(status: ContractStatus, action: ContractAction) -> None:
    assert (
        next_status(status, action, _context_for(action))
        is TRANSITIONS[(status, action)]
    )


FORBIDDEN = [
    (s, a) for s in ContractStatus for a in ContractAction if (s, a) not in TRANSITIONS
]


@pytest.mark.parametrize(("status", "action"), FORBIDDEN)
def test_forbidden_transition(status: ContractStatus, action: ContractAction) -> None:
    with pytest.raises(TransitionError, match=status.value):
        next_status(status, action, _context_for(action))


def test_activation_during_cooling_off() -> None:
    context = TransitionContext(ENDS - timedelta(seconds=1), cooling_off_ends_at=ENDS)
    with pytest.raises(TransitionError, match="during the cooling-off period"):
        next_status(ContractStatus.COOLING_OFF, ContractAction.ACTIVATE, context)


def test_cancel_after_cooling_off() -> None:
    context = TransitionContext(ENDS, cooling_off_ends_at=ENDS)
    with pytest.raises(TransitionError, match="terminate the contract instead"):
        next_status(ContractStatus.COOLING_OFF, ContractAction.CANCEL, context)


def test_accept_after_offer_lapsed() -> None:
    context = TransitionContext(NOW, offer_valid_until=NOW - timedelta(seconds=1))
    with pytest.raises(TransitionError, match="offer lapsed"):
        next_status(ContractStatus.OFFERED, ContractAction.ACCEPT, context)


def test_amendment_short_notice() -> None:
    context = TransitionContext(NOW, amendment_notified_at=NOW - timedelta(days=29))
    with pytest.raises(TransitionError, match="30 days' notice"):
        next_status(ContractStatus.ACTIVE, ContractAction.AMEND, context)


def test_naive_time_rejected() -> None:
    with pytest.raises(TransitionError, match="naive"):
        next_status(
            ContractStatus.DRAFT,
            ContractAction.OFFER,
            TransitionContext(datetime(2026, 1, 1)),
        )


@given(
    status=st.sampled_from(list(ContractStatus)),
    offset_h=st.integers(min_value=-2000, max_value=2000),
)
def test_dispatch_only_when_active(status: ContractStatus, offset_h: int) -> None:
    """No device is dispatched unless its contract is active past cooling-off."""
    at = ENDS + timedelta(hours=offset_h)
    allowed = permits_dispatch(status.value, ENDS, at)
    assert allowed == (status is ContractStatus.ACTIVE and at >= ENDS)


def test_dispatch_without_cooling_off_end() -> None:
    assert not permits_dispatch("active", None, NOW)


def _evidence(**changes: object) -> ConsentEvidence:
    values: dict[str, object] = {
        "accepted_by": "Mary Smith",
        "accepted_at": NOW,
        "channel": "web",
        "document_hashes": dict(HASHES),
        "ip_address": "198.51.100.7",
        "user_agent": "Firefox/140",
    }
    values.update(changes)
    return ConsentEvidence(**values)  # type: ignore[arg-type]


def test_consent_complete() -> None:
    check_consent(_evidence(), HASHES)


def test_consent_web_without_ip() -> None:
    with pytest.raises(ConsentError, match="IP address"):
        check_consent(_evidence(ip_address=None), HASHES)


def test_consent_phone_without_recording() -> None:
    with pytest.raises(ConsentError, match="recording"):
        check_consent(_evidence(channel="phone", ip_address=None), HASHES)


def test_consent_other_document() -> None:
    shown = dict(HASHES, key_facts="d" * 64)
    with pytest.raises(ConsentError, match="key_facts"):
        check_consent(_evidence(document_hashes=shown), HASHES)


def test_consent_without_name() -> None:
    with pytest.raises(ConsentError, match="no person"):
        check_consent(_evidence(accepted_by=" "), HASHES)


def test_cooling_off_default_14_days() -> None:
    ends, rule = cooling_off_end(NOW, "US-NC", "America/New_York")
    assert ends.date().isoformat() == "2026-06-16"
    assert rule.days == 14


def test_cooling_off_ends_local_midnight() -> None:
    ends, _ = cooling_off_end(NOW, "US-NC", "America/New_York")
    assert (ends.hour, ends.minute) == (0, 0)


def test_cooling_off_longest_rule_wins() -> None:
    """Australian business days over Christmas outlast the 14-day floor."""
    accepted = datetime(2026, 12, 23, 1, tzinfo=UTC)
    ends, rule = cooling_off_end(accepted, "AU-NSW", "Australia/Sydney")
    assert rule.scope == "AU"
    assert ends - accepted > timedelta(days=14)
