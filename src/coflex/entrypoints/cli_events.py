"""`coflex event`: change, cancel or resume an event, opt a site out, leave a program.

Each command runs one use case on the store and prints one line. Notices go
to the outbox as queued, for the process that runs the event to deliver (as
`coflex event resume` does); a rejected action
prints one line on stderr, stores nothing and exits with the error's status.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, TypeVar

import typer
from sqlalchemy.orm import Session, sessionmaker

from coflex.entrypoints.cli import DatabaseOption, _fail, console
from coflex.entrypoints.cli_audit import open_store
from coflex.entrypoints.cli_complaints import AtOption, parse_at
from coflex.errors import CoflexError

app = typer.Typer(
    help="Change, cancel or resume an event, opt a site out, leave a program.",
    no_args_is_help=True,
)

T = TypeVar("T")
ReasonOption = Annotated[
    str, typer.Option(help="Why, as the record and the audit log will keep it.")
]
ByOption = Annotated[str, typer.Option("--by", help="Staff id of the operator.")]


def _optional_time(value: str | None) -> datetime | None:
    return None if value is None else parse_at(value)


def _run(database: str | None, use_case: Callable[[sessionmaker[Session]], T]) -> T:
    try:
        with open_store(database) as factory:
            return use_case(factory)
    except CoflexError as error:
        _fail(error)
        raise AssertionError("unreachable") from error


@app.command("change")
def change(
    event_id: Annotated[int, typer.Argument(help="The event to change.")],
    start: Annotated[
        str | None,
        typer.Option(help="New start, ISO 8601 with its UTC offset."),
    ] = None,
    end: Annotated[
        str | None, typer.Option(help="New end, ISO 8601 with its UTC offset.")
    ] = None,
    target_kw: Annotated[
        float | None, typer.Option(help="New load reduction target [kW].")
    ] = None,
    reason: ReasonOption = "changed by the grid operator",
    by: ByOption = "operator",
    at: AtOption = None,
    database: DatabaseOption = None,
) -> None:
    """Change a coming event's window or target and notify its customers."""
    from coflex.services import event_changes

    result = _run(
        database,
        lambda factory: event_changes.change_event(
            factory,
            event_id,
            now=parse_at(at),
            actor=by,
            reason=reason,
            start=_optional_time(start),
            end=_optional_time(end),
            target_kw=target_kw,
        ),
    )
    console.print(
        f"event {event_id} changed: {result.notices} change notices queued, "
        f"{len(result.withdrawn_sites)} sites withdrawn because their notice "
        "cannot arrive in time",
        highlight=False,
    )


@app.command("cancel")
def cancel(
    event_id: Annotated[int, typer.Argument(help="The event to cancel.")],
    reason: ReasonOption = "cancelled by the grid operator",
    by: ByOption = "operator",
    at: AtOption = None,
    database: DatabaseOption = None,
) -> None:
    """Cancel a coming or running event and notify its customers."""
    from coflex.services import event_changes

    result = _run(
        database,
        lambda factory: event_changes.cancel_event(
            factory, event_id, now=parse_at(at), actor=by, reason=reason
        ),
    )
    console.print(
        f"event {event_id} cancelled: {result.notices} cancellation notices queued",
        highlight=False,
    )


def _customer_of_site(factory: sessionmaker[Session], site_id: int) -> int:
    from coflex.adapters.store.models import Site
    from coflex.errors import NotFoundError

    with factory() as session:
        site = session.get(Site, site_id)
        if site is None:
            raise NotFoundError(
                f"site {site_id} not found: check the site id on the operator console",
                value=site_id,
                field="site_id",
            )
        return site.customer_id


@app.command("opt-out")
def opt_out(
    event_id: Annotated[int, typer.Argument(help="The coming event.")],
    site_id: Annotated[int, typer.Argument(help="The customer's site.")],
    at: AtOption = None,
    database: DatabaseOption = None,
) -> None:
    """Opt a site out of a coming event, as its customer asked (by phone, say)."""
    from coflex.services import opt_outs

    def use_case(factory: sessionmaker[Session]) -> opt_outs.OptOut:
        customer_id = _customer_of_site(factory, site_id)
        return opt_outs.opt_out(
            factory,
            event_id,
            site_id,
            customer_id=customer_id,
            account_id=None,
            channel="cli",
            now=parse_at(at),
        )

    result = _run(database, use_case)
    console.print(
        f"site {site_id} opted out of event {event_id} (record {result.withdrawal_id})",
        highlight=False,
    )


@app.command("leave-program")
def leave_program(
    customer: Annotated[
        str, typer.Argument(help="Customer reference, e.g. A1-C000001.")
    ],
    program_id: Annotated[int, typer.Argument(help="The program to leave.")],
    reason: ReasonOption = "left the program",
    at: AtOption = None,
    database: DatabaseOption = None,
) -> None:
    """End a customer's contract and withdraw their sites from coming events."""
    from coflex.services import opt_outs
    from coflex.services.complaints import customer_by_reference

    def use_case(factory: sessionmaker[Session]) -> opt_outs.Departure:
        with factory() as session:
            customer_id = customer_by_reference(session, customer).id
        return opt_outs.leave_program(
            factory,
            customer_id,
            program_id,
            account_id=None,
            channel="cli",
            now=parse_at(at),
            reason=reason,
        )

    result = _run(database, use_case)
    console.print(
        f"contract {result.contract_id} {result.status}; withdrawn from "
        f"{len(result.withdrawn_events)} coming events",
        highlight=False,
    )


@app.command("resume")
def resume(
    event: Annotated[int, typer.Option(help="Id of the event to resume.")],
    database: DatabaseOption = None,
    quiet: Annotated[bool, typer.Option(help="Print no progress bar.")] = False,
) -> None:
    """Resume a stored event from its last checkpoint and run it to the end.

    Delivers the notices and device commands left pending, continues with the
    next step, and settles the event. If the event end has passed for an
    event run in real time, it restores every device still under control and
    records why. Running it on a finished event changes nothing.
    """
    from coflex.adapters.store.database import (
        default_database_url,
        migrate,
        open_engine,
        session_factory,
    )
    from coflex.services import demo
    from coflex.services.demo_job import NOTICE_LEDGER

    try:
        engine = open_engine(database or default_database_url(), must_exist=True)
        migrate(engine)
        factory = session_factory(engine)
        with demo._progress(console, not quiet) as progress:
            summary = demo.run_stored_event(factory, event, progress)
        engine.dispose()
    except CoflexError as error:
        _fail(error)
        return
    console.print(
        f"event {event} is done; notices delivered once each are listed in "
        f"{NOTICE_LEDGER} in the demo's output folder"
    )
    if quiet:
        console.print_json(json.dumps(summary, default=str))
