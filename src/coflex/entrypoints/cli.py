"""The ``coflex`` command line."""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from coflex.errors import CoflexError

app = typer.Typer(
    name="coflex",
    help="Run household flexibility under the DOE DER Aggregator Code of Conduct.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database set-up and migrations.", no_args_is_help=True)
app.add_typer(db_app, name="db")

console = Console()
errors = Console(stderr=True)

DatabaseOption = Annotated[
    str | None,
    typer.Option(
        "--database",
        envvar="COFLEX_DATABASE_URL",
        help="Database URL, e.g. sqlite:///coflex.sqlite or "
        "postgresql://postgres@127.0.0.1:5432/coflex. "
        "Default: coflex.sqlite in the user's data directory.",
        show_default=False,
    ),
]


def _fail(error: CoflexError) -> None:
    errors.print(
        f"[bold red]error:[/] {error.message}", highlight=False, soft_wrap=True
    )
    raise typer.Exit(error.exit_status)


if __name__ == "__main__":
    # `python -m coflex.entrypoints.cli` runs this file as __main__. Hand over to
    # the importable module, so that the command groups below, which import
    # DatabaseOption and _fail from it, find it whole.
    from coflex.entrypoints.cli import main as _main

    _main()
    raise SystemExit(0)

# Registered here, after DatabaseOption and _fail, which these modules import.
from coflex.entrypoints import cli_audit  # noqa: E402

app.add_typer(cli_audit.app, name="audit")
from coflex.entrypoints import cli_complaints  # noqa: E402

app.add_typer(cli_complaints.app, name="complaints")
from coflex.entrypoints import cli_records  # noqa: E402

app.add_typer(cli_records.app, name="records")
from coflex.entrypoints import cli_compliance  # noqa: E402

app.add_typer(cli_compliance.app, name="compliance")
from coflex.entrypoints import cli_enrollment  # noqa: E402

app.add_typer(cli_enrollment.app)
from coflex.entrypoints import cli_competition  # noqa: E402

app.add_typer(cli_competition.app, name="enrollment")
from coflex.entrypoints import cli_openadr  # noqa: E402

app.add_typer(cli_openadr.app, name="openadr3")
from coflex.entrypoints import cli_privacy  # noqa: E402

app.add_typer(cli_privacy.app, name="privacy")
from coflex.entrypoints import cli_registration  # noqa: E402

app.add_typer(cli_registration.app, name="registration")
from coflex.entrypoints import cli_consent  # noqa: E402

app.add_typer(cli_consent.app, name="consent")
from coflex.entrypoints import cli_events  # noqa: E402

app.add_typer(cli_events.app, name="event")


def _parse_local_time(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter(
            f"{value!r} is not an ISO 8601 time: use e.g. 2026-07-21T15:00",
            param_hint=option,
        ) from exc


@app.command()
def demo(
    database: DatabaseOption = None,
    customers: Annotated[
        int, typer.Option(min=1, max=200_000, help="Number of customers to enroll.")
    ] = 500,
    seed: Annotated[
        int, typer.Option(help="Seed that makes the fleet repeatable.")
    ] = 1,
    weather: Annotated[
        Path | None,
        typer.Option(
            help="Hourly weather file (TMY3 CSV, TMY2 or EPW). "
            "Default: the Greensboro NC TMY3 file that pvlib ships.",
        ),
    ] = None,
    weather_alerts: Annotated[
        Path | None,
        typer.Option(
            help="National Weather Service alerts known when the request arrives: "
            "the NWS API's GeoJSON or CAP 1.2 XML. Storm alerts hold batteries "
            "full; heat and cold alerts hold back vulnerable sites and HVAC.",
        ),
    ] = None,
    timezone: Annotated[
        str, typer.Option(help="IANA timezone of the fleet's sites.")
    ] = "America/New_York",
    output: Annotated[
        Path, typer.Option(help="Folder for summary.json, the report and statements.")
    ] = Path("coflex-demo"),
    override_share: Annotated[
        float,
        typer.Option(
            min=0.0, max=1.0, help="Share of dispatched customers who override."
        ),
    ] = 0.1,
    target_kw: Annotated[
        float | None,
        typer.Option(
            help="Requested load reduction in kW. Default: 0.5 kW per customer."
        ),
    ] = None,
    event_start: Annotated[
        str | None,
        typer.Option(
            help="Event start in the sites' local time (ISO 8601). "
            "Default: 15:00 on the hottest weekday afternoon of the weather file."
        ),
    ] = None,
    event_end: Annotated[
        str | None,
        typer.Option(help="Event end in local time. Default: 3 hours after the start."),
    ] = None,
    devices: Annotated[
        str,
        typer.Option(
            help="Device adapter: 'simulated' (in process) or 'mqtt' (a device "
            "simulator process behind the MQTT broker given by --broker)."
        ),
    ] = "simulated",
    broker: Annotated[
        str,
        typer.Option(
            help="MQTT broker for --devices mqtt: mqtt://HOST:PORT, or "
            "mqtts://HOST:PORT?ca=CA.pem for TLS."
        ),
    ] = "mqtt://127.0.0.1:1883",
    quiet: Annotated[bool, typer.Option(help="Print no progress bar.")] = False,
    event_speed: Annotated[
        float | None,
        typer.Option(
            min=0.1,
            help="Run the event at this many event seconds per wall-clock second "
            "(1 is real time), so that overrides from `coflex serve` reach it. "
            "Default: as fast as possible.",
        ),
    ] = None,
    stop_before_event: Annotated[
        bool,
        typer.Option(
            help="Plan the event and store it, then stop before the first notice; "
            "run it with `coflex event resume`."
        ),
    ] = False,
) -> None:
    """Run a whole flexibility event on a simulated fleet driven by real data."""
    from coflex.adapters.store.crypto import ensure_key_file, load_keyring
    from coflex.services.demo import DemoOptions, run_demo

    try:
        created = ensure_key_file()
        load_keyring()
    except CoflexError as error:
        _fail(error)
        return
    if created is not None:
        console.print(f"Created the data key file {created}; keep a backup of it")
    options = DemoOptions(
        database_url=database,
        customers=customers,
        seed=seed,
        weather_path=weather,
        weather_alerts_path=weather_alerts,
        timezone=timezone,
        output_dir=output,
        override_share=override_share,
        target_kw=target_kw,
        event_start_local=_parse_local_time(event_start, "--event-start"),
        event_end_local=_parse_local_time(event_end, "--event-end"),
        devices=devices,
        broker_url=broker,
        show_progress=not quiet,
        event_speed=event_speed,
        stop_before_event=stop_before_event,
    )
    try:
        summary = run_demo(options, console=console)
    except CoflexError as error:
        _fail(error)
        return
    console.print(f"Wrote {output / 'summary.json'}")
    if quiet:
        console.print_json(json.dumps(summary))


@db_app.command("upgrade")
def db_upgrade(database: DatabaseOption = None) -> None:
    """Create the database or bring its schema to the newest revision."""
    from sqlalchemy.engine import make_url

    from coflex.adapters.store.database import (
        default_database_url,
        migrate,
        open_engine,
    )

    url = database or default_database_url()
    try:
        migrate(open_engine(url))
    except CoflexError as error:
        _fail(error)
    shown = make_url(url).render_as_string(hide_password=True) if "://" in url else url
    console.print(f"Schema is up to date in {shown}")


# Imported here because cli_web reuses DatabaseOption and _fail from above.
from coflex.entrypoints import cli_web  # noqa: E402

app.add_typer(cli_web.app)
from coflex.entrypoints import cli_grid  # noqa: E402

app.add_typer(cli_grid.app)


def main() -> None:
    logging.basicConfig(
        level=logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    from sqlalchemy.exc import StatementError

    try:
        app()
    except StatementError as error:
        # A missing or wrong data key surfaces inside SQLAlchemy's wrapper when
        # a value is encrypted; show its message, never the statement's values.
        if not isinstance(error.orig, CoflexError):
            raise
        errors.print(
            f"[bold red]error:[/] {error.orig.message}", highlight=False, soft_wrap=True
        )
        raise SystemExit(error.orig.exit_status) from None


if __name__ == "__main__":
    main()
