"""The contract lifecycle: which change is allowed, when, and on what evidence.

A contract moves draft → offered → accepted → cooling-off → active →
terminated. An offer may be withdrawn before acceptance, and the customer may
cancel at no cost until the cooling-off period ends. An active contract is
amended only after 30 days' notice. Only an active contract past its
cooling-off period permits dispatch; the operations code calls
:func:`permits_dispatch` before every command.

References
----------
DOE DER Aggregator Code of Conduct (November 2023), B. Consumer Enrollment,
Contracting: the customer is told in writing that the contract is legally
binding before entering into it.
Virginia 20VAC5-335-110 B: notice of a change of terms at least 30 days ahead.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from coflex.errors import ConsentError, TransitionError

AMENDMENT_NOTICE = timedelta(days=30)


class ContractStatus(StrEnum):
    DRAFT = "draft"
    OFFERED = "offered"
    WITHDRAWN = "withdrawn"
    ACCEPTED = "accepted"
    COOLING_OFF = "cooling_off"
    CANCELLED = "cancelled"
    ACTIVE = "active"
    TERMINATED = "terminated"


class ContractAction(StrEnum):
    OFFER = "offer"
    WITHDRAW = "withdraw"
    ACCEPT = "accept"
    BEGIN_COOLING_OFF = "begin_cooling_off"
    CANCEL = "cancel"
    ACTIVATE = "activate"
    AMEND = "amend"
    TERMINATE = "terminate"


S, A = ContractStatus, ContractAction
TRANSITIONS: dict[tuple[ContractStatus, ContractAction], ContractStatus] = {
    (S.DRAFT, A.OFFER): S.OFFERED,
    (S.DRAFT, A.WITHDRAW): S.WITHDRAWN,
    (S.OFFERED, A.WITHDRAW): S.WITHDRAWN,
    (S.OFFERED, A.ACCEPT): S.ACCEPTED,
    (S.ACCEPTED, A.BEGIN_COOLING_OFF): S.COOLING_OFF,
    (S.ACCEPTED, A.CANCEL): S.CANCELLED,
    (S.COOLING_OFF, A.CANCEL): S.CANCELLED,
    (S.COOLING_OFF, A.ACTIVATE): S.ACTIVE,
    (S.ACTIVE, A.AMEND): S.ACTIVE,
    (S.ACTIVE, A.TERMINATE): S.TERMINATED,
}
"""Every allowed change; any pair not listed is forbidden."""

DOCUMENT_KINDS = ("proposal", "key_facts", "terms")
"""The documents a customer must have been shown before accepting."""

RECORDED_CHANNELS = frozenset({"phone", "in_person", "mail"})
ONLINE_CHANNELS = frozenset({"web", "app"})


@dataclass(frozen=True)
class TransitionContext:
    """The times a transition rule needs.

    Attributes
    ----------
    at : datetime
        When the change is requested (timezone-aware).
    cooling_off_ends_at : datetime or None
        End of the cooling-off period, once the contract was accepted.
    offer_valid_until : datetime or None
        Last moment the offer may be accepted.
    amendment_notified_at : datetime or None
        When the customer was notified of an amendment.
    """

    at: datetime
    cooling_off_ends_at: datetime | None = None
    offer_valid_until: datetime | None = None
    amendment_notified_at: datetime | None = None


def next_status(
    status: ContractStatus, action: ContractAction, context: TransitionContext
) -> ContractStatus:
    """Return the status after ``action``, or raise if a rule forbids it.

    Raises
    ------
    TransitionError
        If the pair is not an allowed change, or its timing rule fails:
        acceptance after the offer lapsed, activation or cancellation on the
        wrong side of the cooling-off end, an amendment with short notice.
    """
    if context.at.tzinfo is None:
        raise TransitionError(
            f"naive time {context.at!r}: give a timezone-aware time", value=context.at
        )
    target = TRANSITIONS.get((status, action))
    if target is None:
        allowed = sorted(a.value for (s, a) in TRANSITIONS if s is status)
        raise TransitionError(
            f"cannot {action.value} a contract that is {status.value}: "
            f"allowed from {status.value} are {allowed or 'none (final state)'}",
            value=status.value,
            field="status",
        )
    _check_timing(action, context)
    return target


def _check_timing(action: ContractAction, context: TransitionContext) -> None:
    at, ends = context.at, context.cooling_off_ends_at
    if action is A.ACCEPT and context.offer_valid_until is not None:
        if at > context.offer_valid_until:
            raise TransitionError(
                f"offer lapsed at {context.offer_valid_until.isoformat()}, "
                f"acceptance at {at.isoformat()} is too late: issue a new offer",
                value=at,
                field="accepted_at",
            )
    if action is A.ACTIVATE and (ends is None or at < ends):
        raise TransitionError(
            f"cannot activate at {at.isoformat()} during the cooling-off period, "
            f"which ends {ends.isoformat() if ends else 'at an unknown time'}: "
            "activate on or after its end",
            value=at,
            field="activated_at",
        )
    if action is A.CANCEL and ends is not None and at >= ends:
        raise TransitionError(
            f"cooling-off period ended {ends.isoformat()}, cancellation at "
            f"{at.isoformat()} is too late: terminate the contract instead",
            value=at,
            field="cancelled_at",
        )
    if action is A.AMEND:
        check_amendment_notice(context.amendment_notified_at, at)


def check_amendment_notice(
    notified_at: datetime | None, effective_at: datetime
) -> None:
    """Raise unless an amendment was notified at least 30 days before it applies.

    References
    ----------
    Virginia 20VAC5-335-110 B: 30 days' advance notice of a change of terms.
    """
    if notified_at is None or effective_at - notified_at < AMENDMENT_NOTICE:
        shown = notified_at.isoformat() if notified_at else "never"
        raise TransitionError(
            f"amendment effective {effective_at.isoformat()} was notified {shown}: "
            f"a change needs {AMENDMENT_NOTICE.days} days' notice, so make it "
            "effective 30 days or more after the notice",
            value=effective_at,
            field="effective_at",
        )


def permits_dispatch(
    status: str | None, cooling_off_ends_at: datetime | None, at: datetime
) -> bool:
    """Check that a contract allows device control at ``at``.

    Only an active contract whose cooling-off period has ended permits
    dispatch. Draft, offered, cancelled and terminated contracts never do.
    """
    return (
        status == ContractStatus.ACTIVE.value
        and cooling_off_ends_at is not None
        and cooling_off_ends_at <= at
    )


@dataclass(frozen=True)
class ConsentEvidence:
    """A customer's explicit acceptance of an offered contract.

    Attributes
    ----------
    accepted_by : str
        Name of the person who accepted.
    accepted_at : datetime
        When they accepted (timezone-aware).
    channel : str
        ``web`` or ``app`` (IP address and user agent required), or ``phone``,
        ``in_person`` or ``mail`` (a recording or signed-form reference required).
    document_hashes : dict[str, str]
        SHA-256 of each document shown, by kind: proposal, key_facts, terms.
    """

    accepted_by: str
    accepted_at: datetime
    channel: str
    document_hashes: dict[str, str]
    ip_address: str | None = None
    user_agent: str | None = None
    recording_ref: str | None = None


def check_consent(evidence: ConsentEvidence, offered: dict[str, str]) -> None:
    """Raise unless ``evidence`` is complete and names the documents offered.

    Raises
    ------
    ConsentError
        If the name, channel evidence or any document hash is missing, or a
        hash differs from the document that was offered.
    """
    if not evidence.accepted_by.strip():
        raise ConsentError(
            "acceptance names no person: record who accepted", field="accepted_by"
        )
    if evidence.channel in ONLINE_CHANNELS:
        if not (evidence.ip_address and evidence.user_agent):
            raise ConsentError(
                f"acceptance through {evidence.channel} lacks the IP address or "
                "user agent: record both",
                value=evidence.channel,
                field="ip_address",
            )
    elif evidence.channel in RECORDED_CHANNELS:
        if not evidence.recording_ref:
            raise ConsentError(
                f"acceptance by {evidence.channel} lacks a recording or signed-form "
                "reference: record it",
                value=evidence.channel,
                field="recording_ref",
            )
    else:
        allowed = sorted(ONLINE_CHANNELS | RECORDED_CHANNELS)
        raise ConsentError(
            f"unknown acceptance channel {evidence.channel!r}: use one of {allowed}",
            value=evidence.channel,
            field="channel",
        )
    _check_documents(evidence.document_hashes, offered)


def _check_documents(shown: dict[str, str], offered: dict[str, str]) -> None:
    for kind in DOCUMENT_KINDS:
        if kind not in offered:
            raise ConsentError(
                f"the offer has no {kind} document: offer all of {DOCUMENT_KINDS}",
                value=kind,
                field="document_hashes",
            )
        if shown.get(kind) != offered[kind]:
            raise ConsentError(
                f"the {kind} hash {shown.get(kind)!r} differs from the offered "
                f"{offered[kind]!r}: the customer must accept the documents offered",
                value=shown.get(kind),
                field="document_hashes",
            )
