"""`coflex registration`: the aggregator's registrations with regulators.

No flexibility request opens an event in a jurisdiction without a
registration in force there (Code section E, Oversight). `list` shows which
registrations are in force and which renewal reminders are due.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy.orm import Session

from coflex.entrypoints.cli import DatabaseOption, console
from coflex.entrypoints.cli_complaints import AtOption, parse_at, run_step

app = typer.Typer(
    help="Registrations with regulatory authorities: add, list, renew.",
    no_args_is_help=True,
)


def _aggregator_id(session: Session, aggregator: int | None) -> int:
    from sqlalchemy import select

    from coflex.adapters.store.models import Aggregator
    from coflex.errors import InputError, NotFoundError

    if aggregator is not None:
        if session.get(Aggregator, aggregator) is None:
            raise NotFoundError(f"aggregator {aggregator} not found", value=aggregator)
        return aggregator
    ids = list(session.scalars(select(Aggregator.id)))
    if len(ids) != 1:
        raise InputError(
            f"the store has {len(ids)} aggregators: name one with --aggregator ID",
            field="aggregator",
        )
    return ids[0]


@app.command("add")
def add(
    jurisdiction: Annotated[str, typer.Option(help="Jurisdiction code, e.g. US-NC.")],
    authority: Annotated[str, typer.Option(help="The regulatory authority's name.")],
    number: Annotated[str, typer.Option(help="The registration number it issued.")],
    valid_from: Annotated[
        str, typer.Option("--from", help="Start, ISO 8601 with offset.")
    ],
    expires_at: Annotated[
        str, typer.Option("--expires", help="Expiry, ISO 8601 with offset.")
    ],
    aggregator: Annotated[
        int | None,
        typer.Option(help="Aggregator id. Default: the only one in the store."),
    ] = None,
    database: DatabaseOption = None,
) -> None:
    """Record a registration in force from --from until --expires."""
    from coflex.services import oversight

    start, end = parse_at(valid_from), parse_at(expires_at)

    def step(session):  # type: ignore[no-untyped-def]
        return oversight.record_registration(
            session,
            _aggregator_id(session, aggregator),
            jurisdiction=jurisdiction,
            authority=authority,
            number=number,
            valid_from=start,
            expires_at=end,
        )

    registration_id = run_step(database, step)
    console.print(
        f"registration {registration_id} ({number}, {jurisdiction}) recorded, "
        f"in force until {end.isoformat()}",
        highlight=False,
    )


@app.command("renew")
def renew(
    registration_id: Annotated[int, typer.Argument(help="Registration id.")],
    expires_at: Annotated[
        str, typer.Option("--expires", help="New expiry, ISO 8601 with offset.")
    ],
    number: Annotated[
        str | None, typer.Option(help="New number, if the authority issued one.")
    ] = None,
    at: AtOption = None,
    database: DatabaseOption = None,
) -> None:
    """Record the renewal of a registration until the new --expires."""
    from coflex.services import oversight

    when, end = parse_at(at), parse_at(expires_at)
    new_id = run_step(
        database,
        lambda s: oversight.renew_registration(
            s, registration_id, expires_at=end, at=when, number=number
        ),
    )
    console.print(
        f"registration {registration_id} renewed as {new_id}, in force until "
        f"{end.isoformat()}",
        highlight=False,
    )


@app.command("list")
def list_(at: AtOption = None, database: DatabaseOption = None) -> None:
    """List registrations, whether each is in force, and reminders due."""
    from coflex.domain.governance.registration import is_valid, reminder_due
    from coflex.services import oversight

    when = parse_at(at)

    def step(session):  # type: ignore[no-untyped-def]
        rows = []
        for row in oversight.registrations(session):
            valid = is_valid(row.valid_from, row.expires_at, row.revoked_at, when)
            days = reminder_due(row.expires_at, when) if valid else None
            rows.append((row, valid, days))
        return rows

    table = Table(
        "id", "jurisdiction", "authority", "number", "from", "expires", "status"
    )
    for row, valid, days in run_step(database, step):
        status = "in force" if valid else "not in force"
        if days is not None:
            status += f", renew: expires within {days} days"
        table.add_row(
            str(row.id),
            row.jurisdiction,
            row.authority,
            row.number,
            row.valid_from.date().isoformat(),
            row.expires_at.date().isoformat(),
            status,
        )
    console.print(table)
