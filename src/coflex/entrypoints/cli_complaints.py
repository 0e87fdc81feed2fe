"""`coflex complaints`: log, acknowledge, close, escalate and report complaints."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, TypeVar

import typer
from sqlalchemy.orm import Session

from coflex.entrypoints.cli import DatabaseOption, _fail, console
from coflex.entrypoints.cli_audit import open_store
from coflex.errors import CoflexError

app = typer.Typer(help="Customer complaints and disputes.", no_args_is_help=True)

T = TypeVar("T")

AtOption = Annotated[
    str | None,
    typer.Option(
        "--at",
        help="When it happened, ISO 8601 with its UTC offset "
        "(e.g. 2026-07-21T15:00-04:00). Default: now.",
    ),
]
ByOption = Annotated[
    str, typer.Option("--by", help="Staff id of the person logging it.")
]
ChannelOption = Annotated[
    str,
    typer.Option(help="How it came in: phone, portal, api, email or letter."),
]


def parse_at(value: str | None) -> datetime:
    """Parse an ISO 8601 time with its offset; None means now."""
    if value is None:
        return datetime.now(UTC)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter(
            f"{value!r} is not an ISO 8601 time: use e.g. 2026-07-21T15:00-04:00"
        ) from exc
    if parsed.tzinfo is None:
        raise typer.BadParameter(
            f"{value!r} has no UTC offset: add one, e.g. 2026-07-21T15:00-04:00"
        )
    return parsed


def run_step(database: str | None, step: Callable[[Session], T]) -> T:
    """Run ``step`` in one transaction; print a CoflexError as one line and exit."""
    from coflex.adapters.store.database import transaction

    try:
        with open_store(database) as factory, transaction(factory) as session:
            return step(session)
    except CoflexError as error:
        _fail(error)
        raise AssertionError("unreachable") from error


def _show(complaint) -> None:  # type: ignore[no-untyped-def]
    console.print(
        f"{complaint.reference} {complaint.status}: {complaint.category}, "
        f"acknowledge by {complaint.acknowledge_by.isoformat()}, respond by "
        f"{complaint.respond_by.isoformat()}, regulator from "
        f"{complaint.escalation_from.isoformat()}",
        highlight=False,
    )


@app.command("log")
def log(
    customer: Annotated[str, typer.Option(help="Customer reference, e.g. A1-C000001.")],
    category: Annotated[
        str,
        typer.Option(
            help="notice, override, comfort_and_safety, baseline_and_payment, "
            "sales or privacy."
        ),
    ],
    summary: Annotated[str, typer.Option(help="What the customer said.")],
    event: Annotated[
        int | None, typer.Option(help="Id of the event concerned.")
    ] = None,
    statement: Annotated[
        str | None, typer.Option(help="Statement reference, e.g. E3-A1-C000001.")
    ] = None,
    channel: ChannelOption = "phone",
    by: ByOption = "operator",
    at: AtOption = None,
    database: DatabaseOption = None,
) -> None:
    """Log a complaint received by phone, email, letter, the portal or the API."""
    from coflex.services import complaints

    intake = complaints.Intake(
        customer, category, summary, channel, by, parse_at(at), event, statement
    )
    _show(run_step(database, lambda s: complaints.log_complaint(s, intake)))


@app.command("dispute")
def dispute(
    statement: Annotated[str, typer.Option(help="Statement reference disputed.")],
    summary: Annotated[str, typer.Option(help="What the customer disputes.")],
    channel: ChannelOption = "phone",
    by: ByOption = "operator",
    at: AtOption = None,
    database: DatabaseOption = None,
) -> None:
    """Open a complaint about a statement, linked to it and to its baseline."""
    from coflex.services import complaints

    when = parse_at(at)
    _show(
        run_step(
            database,
            lambda s: complaints.dispute_statement(
                s, statement, summary, channel=channel, logged_by=by, received_at=when
            ),
        )
    )


@app.command("acknowledge")
def acknowledge(
    reference: str, at: AtOption = None, database: DatabaseOption = None
) -> None:
    """Record that the customer was told the complaint was received."""
    from coflex.services import complaints

    when = parse_at(at)
    _show(run_step(database, lambda s: complaints.acknowledge(s, reference, when)))


@app.command("resolve")
def resolve(
    reference: str,
    outcome: Annotated[
        str, typer.Option(help="upheld, partly_upheld, not_upheld or withdrawn.")
    ],
    response: Annotated[str, typer.Option(help="The final position, for the letter.")],
    at: AtOption = None,
    database: DatabaseOption = None,
) -> None:
    """Close a complaint with an outcome and print the final-response letter."""
    from coflex.services import complaints

    when = parse_at(at)
    done = run_step(
        database, lambda s: complaints.resolve(s, reference, outcome, response, when)
    )
    console.print(done.final_letter, highlight=False)


@app.command("deadlock")
def deadlock(
    reference: str,
    response: Annotated[str, typer.Option(help="The final position, for the letter.")],
    at: AtOption = None,
    database: DatabaseOption = None,
) -> None:
    """Close a complaint as deadlocked and print the letter that opens escalation."""
    from coflex.services import complaints

    when = parse_at(at)
    done = run_step(
        database, lambda s: complaints.declare_deadlock(s, reference, response, when)
    )
    console.print(done.final_letter, highlight=False)


@app.command("escalate")
def escalate(
    reference: str, at: AtOption = None, database: DatabaseOption = None
) -> None:
    """Record that the customer took the complaint to the regulator."""
    from coflex.services import complaints

    when = parse_at(at)
    _show(run_step(database, lambda s: complaints.escalate(s, reference, when)))


@app.command("remind")
def remind(at: AtOption = None, database: DatabaseOption = None) -> None:
    """Send staff a reminder for each deadline due within a day; once per deadline."""
    from coflex.services import complaints

    when = parse_at(at)
    for reminder in run_step(database, lambda s: complaints.send_reminders(s, when)):
        console.print(
            f"{reminder.reference}: {reminder.deadline} due "
            f"{reminder.due_at.isoformat()}",
            highlight=False,
        )


@app.command("report")
def report(
    start: Annotated[str, typer.Option("--from", help="Start, ISO 8601 with offset.")],
    end: Annotated[str, typer.Option("--to", help="End, ISO 8601 with offset.")],
    database: DatabaseOption = None,
) -> None:
    """Print counts, times [days] and outcomes of complaints received in a range."""
    from coflex.services import complaints

    first, last = parse_at(start), parse_at(end)
    figures = run_step(database, lambda s: complaints.report(s, first, last))
    console.print_json(json.dumps(figures))
