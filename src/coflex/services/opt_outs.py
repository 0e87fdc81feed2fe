"""Opting out of a coming event, leaving the program, and the opt-out allowance.

A customer opts out of a coming event in one step from the portal, the API or
the command line. The site is withdrawn from the event with the reason
``opted_out``; the runner releases it at the start and covers the gap from
reserve. Leaving the program ends the contract through the contract state
machine (cancel in the cooling-off period, terminate after it) and withdraws
the customer's sites from every coming event.

No opt-out or override costs anything unless the contract's terms set
``free_opt_outs_per_season``. Where they do, the count per customer and season
is shown against that allowance.

References
----------
US DOE, "DER Aggregator Code of Conduct", November 2023: customers can
override or opt out of an event at any time, and can leave a program.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import func, select, true
from sqlalchemy.orm import Session, sessionmaker

from coflex.adapters.store.database import transaction
from coflex.adapters.store.models import (
    Contract,
    Customer,
    Event,
    Notice,
    Override,
    Participation,
    Program,
    Site,
)
from coflex.adapters.store.models_notices import SiteWithdrawal
from coflex.domain.enrollment.contract import ContractStatus
from coflex.domain.fleet import ExclusionReason
from coflex.domain.operations.notice_changes import opt_out_confirmation
from coflex.domain.programs import ProgramTerms
from coflex.errors import NotFoundError, RuleViolation
from coflex.services import audit, contracting
from coflex.services.event_changes import (
    COMING_STATUSES,
    load_event,
    window_of,
    withdraw_sites,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class OptOut:
    """A stored opt-out and the confirmation shown to the customer."""

    withdrawal_id: int
    event_id: int
    site_id: int
    requested_at: datetime
    confirmation: str


def _own_site(session: Session, site_id: int, customer_id: int) -> Site:
    site = session.get(Site, site_id)
    if site is None or site.customer_id != customer_id:
        raise NotFoundError(
            f"site {site_id} not found among your sites: use a site id from "
            "your portal or GET /api/v1/sites",
            value=site_id,
            field="site_id",
        )
    return site


def _check_coming(session: Session, event: Event, site_id: int) -> None:
    takes_part = session.scalar(
        select(Participation.id)
        .where(Participation.event_id == event.id, Participation.site_id == site_id)
        .limit(1)
    )
    if takes_part is None:
        raise NotFoundError(
            f"site {site_id} takes no part in event {event.id}: nothing to opt "
            "out of",
            value=event.id,
            field="event_id",
        )
    if event.status == "running":
        raise RuleViolation(
            f"event {event.id} is running: press Override to stop it now instead",
            value=event.status,
            field="event_id",
        )
    if event.status not in COMING_STATUSES:
        raise RuleViolation(
            f"event {event.id} is {event.status}: only a coming event can be "
            "opted out of",
            value=event.status,
            field="event_id",
        )


def opt_out(
    factory: sessionmaker[Session],
    event_id: int,
    site_id: int,
    *,
    customer_id: int,
    account_id: int | None,
    channel: str,
    now: datetime,
) -> OptOut:
    """Withdraw a customer's site from a coming event; a repeat returns the first.

    Stores the withdrawal, the site's final eligibility decision, an audit
    record and a confirmation in the notice outbox, in one transaction.

    Raises
    ------
    NotFoundError
        If the site is not the customer's or takes no part in the event.
    RuleViolation
        If the event is running (override instead), ended or cancelled.
    """
    with transaction(factory) as session:
        site = _own_site(session, site_id, customer_id)
        event = load_event(session, event_id)
        existing = session.scalar(
            select(SiteWithdrawal).where(
                SiteWithdrawal.event_id == event_id,
                SiteWithdrawal.site_id == site_id,
                SiteWithdrawal.reason == ExclusionReason.OPTED_OUT.value,
            )
        )
        customer = session.get(Customer, customer_id)
        assert customer is not None
        text = opt_out_confirmation(customer.name, window_of(event), site.timezone)
        if existing is not None:
            return OptOut(
                existing.id, event_id, site_id, existing.requested_at, text.body
            )
        _check_coming(session, event, site_id)
        withdraw_sites(
            session,
            event_id,
            [(site_id, customer_id)],
            ExclusionReason.OPTED_OUT,
            f"opted out by the customer through {channel}",
            channel=channel,
            account_id=account_id,
            at=now,
        )
        _confirm(session, event_id, customer, text.body, now)
        session.flush()
        row = session.scalar(
            select(SiteWithdrawal).where(
                SiteWithdrawal.event_id == event_id, SiteWithdrawal.site_id == site_id
            )
        )
        assert row is not None
        audit.append(
            session,
            [
                audit.AuditRecord(
                    at=now,
                    action="opt_out_recorded",
                    subject=f"site:{site_id}",
                    details={"channel": channel, "withdrawal_id": row.id},
                    actor=f"account:{account_id}" if account_id else channel,
                    customer_id=customer_id,
                    event_id=event_id,
                )
            ],
        )
        logger.info("site %s opted out of event %s", site_id, event_id)
        return OptOut(row.id, event_id, site_id, now, text.body)


def _confirm(
    session: Session, event_id: int, customer: Customer, body: str, now: datetime
) -> None:
    """Queue the confirmation in the outbox on the customer's preferred channel."""
    row = {
        "event_id": event_id,
        "customer_id": customer.id,
        "kind": "opt_out",
        "channel": customer.preferred_channel,
        "body": body,
        "created_at": now,
        "sent_at": None,
        "delivered_at": None,
        "status": "queued",
    }
    session.add(Notice(**row))
    audit.append(session, audit.notice_records([row]))


# -- leaving the program ----------------------------------------------------------


@dataclass(frozen=True)
class Departure:
    """The result of leaving a program."""

    contract_id: int
    status: str  # "cancelled" or "terminated"
    final_statement_id: int | None
    withdrawn_events: list[int]


def _open_contract(session: Session, customer_id: int, program_id: int) -> Contract:
    contract = session.scalar(
        select(Contract)
        .where(
            Contract.customer_id == customer_id,
            Contract.program_id == program_id,
            Contract.status.in_(
                (
                    ContractStatus.ACCEPTED.value,
                    ContractStatus.COOLING_OFF.value,
                    ContractStatus.ACTIVE.value,
                )
            ),
        )
        .order_by(Contract.id.desc())
        .limit(1)
    )
    if contract is None:
        raise NotFoundError(
            f"no open contract in program {program_id}: you are not enrolled in it",
            value=program_id,
            field="program_id",
        )
    return contract


def leave_program(
    factory: sessionmaker[Session],
    customer_id: int,
    program_id: int,
    *,
    account_id: int | None,
    channel: str,
    now: datetime,
    reason: str = "left the program",
) -> Departure:
    """End the customer's contract and withdraw their sites from coming events.

    In the cooling-off period the contract is cancelled at no cost. After it
    the contract is terminated with a final statement and no exit fee; a
    contract still marked cooling-off after its period is activated first.

    Raises
    ------
    NotFoundError
        If the customer has no open contract in the program.
    TransitionError
        If the contract state machine rejects the change.
    """
    from coflex.services.enrollment_documents import (
        DocumentRenderer,
        final_statement_html,
    )

    actor = f"account:{account_id}" if account_id else channel
    with transaction(factory) as session:
        contract = _open_contract(session, customer_id, program_id)
        statement_id = None
        ends = contract.cooling_off_ends_at
        if contract.status == ContractStatus.COOLING_OFF.value and (
            ends is not None and ends <= now
        ):
            # The period is over but nothing activated the contract yet. The
            # state machine rejects a cancellation now, so the contract is
            # activated as of the period's end and then terminated.
            contracting.activate(session, contract.id, ends, actor)
        if contract.status == ContractStatus.ACTIVE.value:
            customer = session.get(Customer, customer_id)
            program = session.get(Program, program_id)
            assert customer is not None and program is not None
            paid, events = contracting.settled_total(session, customer_id)
            html = final_statement_html(
                DocumentRenderer(),
                customer.name,
                customer.reference,
                program.name,
                now,
                paid,
                events,
                ProgramTerms.from_json(contract.terms).currency,
                contracting.termination_retain_until(session, contract.id, now),
            )
            statement_id = contracting.terminate(
                session, contract.id, now, actor, reason, html
            )
        else:
            contracting.cancel(session, contract.id, now, actor, reason)
        withdrawn = _withdraw_from_coming(
            session, customer_id, program_id, channel, account_id, now
        )
        status = contract.status
    logger.info(
        "contract %s %s; left %d coming events", contract.id, status, len(withdrawn)
    )
    return Departure(contract.id, status, statement_id, withdrawn)


def _withdraw_from_coming(
    session: Session,
    customer_id: int,
    program_id: int,
    channel: str,
    account_id: int | None,
    now: datetime,
) -> list[int]:
    pairs = session.execute(
        select(Participation.event_id, Participation.site_id)
        .join(Event, Event.id == Participation.event_id)
        .join(Site, Site.id == Participation.site_id)
        .where(
            Site.customer_id == customer_id,
            Event.program_id == program_id,
            Event.status.in_(COMING_STATUSES),
        )
        .distinct()
    ).all()
    by_event: dict[int, list[tuple[int, int]]] = {}
    for event_id, site_id in pairs:
        by_event.setdefault(event_id, []).append((site_id, customer_id))
    for event_id, sites in sorted(by_event.items()):
        withdraw_sites(
            session,
            event_id,
            sites,
            ExclusionReason.LEFT_PROGRAM,
            "the customer left the program",
            channel=channel,
            account_id=account_id,
            at=now,
        )
    return sorted(by_event)


# -- the allowance ----------------------------------------------------------------


@dataclass(frozen=True)
class Allowance:
    """A customer's opt-outs and overrides in a program's season, against the terms."""

    program_id: int
    opt_outs: int
    overrides: int
    free: int | None  # None: the terms set no allowance and no penalty

    @property
    def used(self) -> int:
        return self.opt_outs + self.overrides

    @property
    def beyond(self) -> int:
        """Opt-outs and overrides past the free allowance."""
        if self.free is None:
            return 0
        return max(0, self.used - self.free)

    def describe(self) -> str:
        """Return the count against the allowance, for the portal and the statement.

        NOTE: settlement does not yet withhold the payment of an event
        overridden beyond the allowance. The text therefore states only what
        the terms permit, and the statement's payment is the amount paid.
        """
        counted = (
            f"{self.used} this season ({self.opt_outs} opt-outs, "
            f"{self.overrides} overrides)"
        )
        if self.free is None:
            return f"{counted}. Your terms set no penalty for opting out or overriding."
        text = f"{counted}, of {self.free} free a season."
        if self.beyond:
            text += (
                f" {self.beyond} went past the free allowance. For those events "
                "your terms let us withhold the event payment."
            )
        return text


def _season(program: Program, year: int) -> tuple[date, date]:
    first = date(year, program.season_start.month, program.season_start.day)
    last = date(year, program.season_end.month, program.season_end.day)
    return first, last


def season_counts(
    session: Session, program_id: int, year: int, customer_id: int | None = None
) -> dict[int, tuple[int, int]]:
    """Return each customer's (opt-outs, overrides) in a program's season.

    An event counts in the season of its start date [UTC]. Customers with
    neither are missing from the result; ``customer_id`` limits it to one.
    """
    program = session.get(Program, program_id)
    assert program is not None
    first, last = _season(program, year)
    in_season = (
        (Event.program_id == program.id)
        & (Event.start >= datetime.combine(first, time(), UTC))
        & (Event.start < datetime.combine(last + timedelta(days=1), time(), UTC))
    )
    opt_out_rows = session.execute(
        select(SiteWithdrawal.customer_id, func.count(SiteWithdrawal.id))
        .join(Event, Event.id == SiteWithdrawal.event_id)
        .where(
            SiteWithdrawal.reason == ExclusionReason.OPTED_OUT.value,
            in_season,
            true()
            if customer_id is None
            else SiteWithdrawal.customer_id == customer_id,
        )
        .group_by(SiteWithdrawal.customer_id)
    ).all()
    override_rows = session.execute(
        select(Site.customer_id, func.count(Override.id))
        .join(Event, Event.id == Override.event_id)
        .join(Site, Site.id == Override.site_id)
        .where(
            in_season,
            true() if customer_id is None else Site.customer_id == customer_id,
        )
        .group_by(Site.customer_id)
    ).all()
    counts: dict[int, tuple[int, int]] = {}
    for owner, count in opt_out_rows:
        counts[owner] = (int(count), 0)
    for owner, count in override_rows:
        counts[owner] = (counts.get(owner, (0, 0))[0], int(count))
    return counts


def allowance(
    session: Session, customer_id: int, contract: Contract, year: int
) -> Allowance:
    """Count a customer's opt-outs and overrides in the contract's program season."""
    counts = season_counts(session, contract.program_id, year, customer_id)
    opt_out_count, override_count = counts.get(customer_id, (0, 0))
    free = ProgramTerms.from_json(contract.terms).free_opt_outs_per_season
    return Allowance(contract.program_id, opt_out_count, override_count, free)


def allowance_in_program(
    session: Session, customer_id: int, program_id: int, year: int
) -> Allowance | None:
    """Return the allowance under the customer's newest contract in a program.

    Returns None if the customer never had a contract in the program.
    """
    contract = session.scalar(
        select(Contract)
        .where(Contract.customer_id == customer_id, Contract.program_id == program_id)
        .order_by(Contract.id.desc())
        .limit(1)
    )
    return allowance(session, customer_id, contract, year) if contract else None
