"""`coflex enrollment`: service points, other enrollments, flags and program offers.

Every command opens the database, runs one transaction and prints its result.
When a rule rejects the action, the command prints one line on stderr, stores
nothing and exits with the error's status.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import select
from sqlalchemy.orm import Session

from coflex.entrypoints.cli import DatabaseOption, console
from coflex.entrypoints.cli_enrollment import AtOption, _at, _run
from coflex.errors import InputError

app = typer.Typer(
    help="Dual-enrollment checks and program offers.", no_args_is_help=True
)


@app.command("service-point")
def service_point(
    site: Annotated[int, typer.Option(help="Site id.")],
    service_point_id: Annotated[
        str, typer.Option("--id", help="Utility meter or service-point id.")
    ],
    database: DatabaseOption = None,
    at: AtOption = None,
) -> None:
    """Store a site's service-point id and cross-check other aggregators."""
    from coflex.services import competition

    flags = _run(
        database,
        lambda s: competition.record_service_point(s, site, service_point_id, _at(at)),
    )
    console.print(f"site {site}: service point stored; new flags {flags}")


@app.command("declare")
def declare(
    site: Annotated[int, typer.Option(help="Site id.")],
    provider: Annotated[str, typer.Option(help="The other provider's name.")],
    service: Annotated[
        str, typer.Option(help="The grid service, e.g. demand_response.")
    ],
    program: Annotated[str, typer.Option(help="The other provider's program.")] = "",
    declared_by: Annotated[str, typer.Option(help="Who declared it.")] = "customer",
    database: DatabaseOption = None,
    at: AtOption = None,
) -> None:
    """Record the customer's declaration of another enrollment of a site."""
    from coflex.services import competition

    declaration, flags = _run(
        database,
        lambda s: competition.declare_other_enrollment(
            s, site, provider, service, program, _at(at), declared_by
        ),
    )
    console.print(f"declaration {declaration} stored; new flags {flags}")


@app.command("flags")
def flags(
    site: Annotated[
        list[int] | None, typer.Option(help="Site id; default: every site.")
    ] = None,
    database: DatabaseOption = None,
) -> None:
    """List the unresolved dual-enrollment flags."""
    from coflex.adapters.store.models_enrollment import DualEnrollmentFlag
    from coflex.services import competition

    def action(session: Session) -> list[str]:
        sites = (
            site or session.scalars(select(DualEnrollmentFlag.site_id).distinct()).all()
        )
        found = competition.open_flags(session, sites)
        return [
            f"flag {f.id}: site {f.site_id}, program {f.program_id}, dual "
            f"enrollment since {f.flagged_at.isoformat()}: {f.detail}"
            for site_flags in found.values()
            for f in site_flags
        ]

    lines = _run(database, action)
    for line in lines or ["no unresolved dual-enrollment flags"]:
        console.print(line, highlight=False)


@app.command("resolve")
def resolve(
    flag_id: int,
    resolution: Annotated[str, typer.Option(help="How it was resolved.")],
    database: DatabaseOption = None,
    at: AtOption = None,
) -> None:
    """Resolve a dual-enrollment flag; the site may be dispatched again."""
    from coflex.services import competition

    _run(
        database,
        lambda s: competition.resolve_flag(s, flag_id, resolution, "operator", _at(at)),
    )
    console.print(f"flag {flag_id} resolved")


@app.command("store-offer")
def store_offer(
    program: Annotated[str, typer.Option(help="Program id or name.")],
    file: Annotated[
        Path, typer.Option(help="JSON file of the offer, as `show-offer` prints.")
    ],
    database: DatabaseOption = None,
    at: AtOption = None,
) -> None:
    """Store a program's offer: fees, incentive, parties, obligations, data uses."""
    from coflex.services import program_offers
    from coflex.services.fleet_contracts import ProgramOffer

    def action(session: Session) -> int:
        try:
            payload = json.loads(file.read_text(encoding="utf-8"))
            offer = ProgramOffer.from_json(payload)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InputError(
                f"{file}: not a readable offer ({exc}): start from the output "
                "of `coflex enrollment show-offer`",
                value=str(file),
                field="file",
            ) from exc
        row = program_offers.find_program(session, program)
        program_offers.store_program_offer(session, row.id, offer, _at(at))
        return row.id

    console.print(f"offer of program {_run(database, action)} stored")


@app.command("show-offer")
def show_offer(
    program: Annotated[str, typer.Option(help="Program id or name.")],
    database: DatabaseOption = None,
) -> None:
    """Print a program's stored offer as JSON."""
    from coflex.services import program_offers

    def action(session: Session) -> dict[str, object]:
        row = program_offers.find_program(session, program)
        return program_offers.load_program_offer(session, row).to_json()

    print(json.dumps(_run(database, action), indent=2))
