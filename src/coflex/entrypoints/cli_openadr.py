"""``coflex openadr3``: OAuth2 clients of the OpenADR 3.1 VTN in ``coflex serve``."""

from __future__ import annotations

from typing import Annotated

import typer

from coflex.entrypoints.cli import DatabaseOption, _fail, console
from coflex.errors import CoflexError

app = typer.Typer(
    help="OpenADR 3.1 VTN clients (the VTN is served at /openadr3/3.1.0).",
    no_args_is_help=True,
)


@app.command("add-client")
def add_client(
    role: Annotated[
        str, typer.Option(help="'ven' for a customer's VEN, 'bl' for business logic.")
    ],
    site_id: Annotated[
        int | None,
        typer.Option(help="The coflex site whose devices the VEN controls."),
    ] = None,
    database: DatabaseOption = None,
) -> None:
    """Create a client and print its client ID and secret (shown only once)."""
    from coflex.adapters.store.database import (
        default_database_url,
        migrate,
        open_engine,
        session_factory,
    )
    from coflex.services.openadr3_vtn import add_client as create

    try:
        engine = open_engine(database or default_database_url(), must_exist=True)
        migrate(engine)
        client_id, secret = create(session_factory(engine), role, site_id=site_id)
    except CoflexError as error:
        _fail(error)
        return
    console.print(f"client_id\t{client_id}\nclient_secret\t{secret}")
