"""`coflex grid-demo`: a simulated fleet that runs a grid operator's API request."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from coflex.entrypoints.cli import DatabaseOption, _fail, console
from coflex.errors import CoflexError

app = typer.Typer()


@app.command("grid-demo")
def grid_demo(
    output: Annotated[
        Path, typer.Option(help="Folder for documents and credentials.txt.")
    ] = Path("grid-demo-output"),
    customers: Annotated[
        int, typer.Option(min=5, max=2000, help="Customers to enroll.")
    ] = 30,
    seed: Annotated[int, typer.Option(help="Seed of the simulated fleet.")] = 3,
    wait: Annotated[
        float, typer.Option(min=1, help="Seconds to wait for a request.")
    ] = 3600,
    database: DatabaseOption = None,
) -> None:
    """Enroll a simulated fleet, wait for one API flexibility request, and run it.

    Start `coflex serve` on the same database and send the request as the
    `grid-operator` account from credentials.txt.
    """
    from coflex.adapters.store.database import default_database_url
    from coflex.services import demo_accounts, demo_grid, demo_grid_api

    url = database or default_database_url()
    fleet = demo_grid.build_grid_fleet(url, customers, seed, output / "documents")
    try:
        credentials = demo_grid_api.open_to_api(fleet, demo_grid_api.utc_now())
        path = output / "credentials.txt"
        demo_accounts.write_credentials(path, credentials)
        demo_accounts.print_credentials(console, credentials, path)
        console.print(
            f"Waiting for POST /api/v1/flexibility-requests to program "
            f"{fleet.program_id} (event class {fleet.terms.event_class.value}).",
            highlight=False,
        )
        served = demo_grid_api.serve_one_request(
            fleet,
            wait_s=wait,
            on_planned=lambda event_id: console.print(
                f"Event {event_id} planned and notified; running it.",
                highlight=False,
            ),
        )
    except CoflexError as error:
        _fail(error)
        return
    finally:
        fleet.engine.dispose()
    console.print(f"Event {served.event_id}: {served.status}.", highlight=False)
    if served.status == "declined":
        raise typer.Exit(1)
