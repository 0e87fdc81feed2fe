"""`coflex event`: resume an event whose runner stopped."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from coflex.entrypoints.cli import DatabaseOption, _fail, console
from coflex.errors import CoflexError

app = typer.Typer(help="Running events: resume a stopped run.", no_args_is_help=True)


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
