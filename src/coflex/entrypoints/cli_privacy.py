"""`coflex privacy`: export, correct and delete a customer's data; manage data keys."""

from __future__ import annotations

import os

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated

import typer

from coflex.entrypoints.cli import DatabaseOption, _fail, console
from coflex.entrypoints.cli_complaints import run_step
from coflex.errors import CoflexError, InputError

app = typer.Typer(
    help="Customers' data rights (export, correction, deletion) and the data keys.",
    no_args_is_help=True,
)

CustomerArgument = Annotated[
    str, typer.Argument(help="Customer reference, e.g. A1-C000001.")
]
ActorOption = Annotated[
    str, typer.Option("--by", help="Staff id of the person handling the request.")
]


def _day(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter(
            f"{value!r} is not a date: use YYYY-MM-DD, e.g. 2026-07-21",
            param_hint=option,
        ) from exc


def _require_keys() -> None:
    from coflex.adapters.store import crypto

    try:
        crypto.load_keyring()
    except CoflexError as error:
        _fail(error)


@app.command("export")
def export(
    customer: CustomerArgument,
    output: Annotated[Path, typer.Option(help="File to write; it must not exist.")],
    export_format: Annotated[
        str,
        typer.Option(
            "--format",
            help="json (everything), csv (a zip of CSV files) or "
            "greenbutton (interval meter data as ESPI XML).",
        ),
    ] = "json",
    start: Annotated[
        str | None, typer.Option("--from", help="First local day of meter data.")
    ] = None,
    end: Annotated[
        str | None, typer.Option("--to", help="Last local day of meter data.")
    ] = None,
    by: ActorOption = "operator",
    database: DatabaseOption = None,
) -> None:
    """Write everything coflex holds on a customer to one file."""
    from coflex.services import privacy_export
    from coflex.services.complaints import customer_by_reference

    if output.exists():
        _fail(InputError(f"{output} exists: give a new file name", value=str(output)))
    if not output.parent.is_dir():
        _fail(
            InputError(
                f"folder {output.parent} not found: create it or give --output in "
                "an existing folder",
                value=str(output),
            )
        )
    _require_keys()
    first, last = _day(start, "--from"), _day(end, "--to")

    def step(session):  # type: ignore[no-untyped-def]
        chosen = privacy_export.parse_format(export_format)
        days = privacy_export.DateRange(first, last)
        row = customer_by_reference(session, customer)
        return privacy_export.export_customer(
            session, row, chosen, days, actor=by, at=datetime.now(UTC)
        )

    result = run_step(database, step)
    # The export contains the customer's personal data, so only its owner may read it.
    with os.fdopen(os.open(output, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as file:
        file.write(result.content)
    console.print(
        f"wrote {output} ({len(result.content)} bytes, SHA-256 {result.sha256})",
        highlight=False,
    )
    for finding in result.findings:
        console.print(f"finding: {finding}", highlight=False)


@app.command("correct")
def correct(
    customer: CustomerArgument,
    name: Annotated[str | None, typer.Option(help="Corrected full name.")] = None,
    email: Annotated[str | None, typer.Option(help="Corrected email address.")] = None,
    phone: Annotated[str | None, typer.Option(help="Corrected phone number.")] = None,
    address: Annotated[
        str | None, typer.Option(help="Corrected postal address.")
    ] = None,
    by: ActorOption = "operator",
    database: DatabaseOption = None,
) -> None:
    """Correct a customer's name, contacts or address at their request."""
    from coflex.services import privacy_requests
    from coflex.services.complaints import customer_by_reference

    changes = {
        k: v
        for k, v in (
            ("name", name),
            ("email", email),
            ("phone", phone),
            ("postal_address", address),
        )
        if v is not None
    }
    if not changes:
        raise typer.BadParameter(
            "nothing to correct: give --name, --email, --phone or --address"
        )
    _require_keys()

    def step(session):  # type: ignore[no-untyped-def]
        row = customer_by_reference(session, customer)
        return privacy_requests.correct(
            session, row, changes, actor=by, at=datetime.now(UTC)
        )

    fields = run_step(database, step)
    console.print(f"corrected {', '.join(fields)} of {customer}", highlight=False)


@app.command("delete")
def delete(
    customer: CustomerArgument,
    yes: Annotated[
        bool, typer.Option("--yes", help="Confirm: the erasure cannot be undone.")
    ] = False,
    by: ActorOption = "operator",
    database: DatabaseOption = None,
) -> None:
    """Erase a customer's personal data; anonymise what retention rules keep."""
    from coflex.services import privacy_requests
    from coflex.services.complaints import customer_by_reference

    if not yes:
        raise typer.BadParameter(
            "deletion cannot be undone: add --yes to confirm", param_hint="--yes"
        )
    _require_keys()

    def step(session):  # type: ignore[no-untyped-def]
        row = customer_by_reference(session, customer)
        return privacy_requests.delete_customer(
            session, row, actor=by, at=datetime.now(UTC)
        )

    result = run_step(database, step)
    console.print(
        f"{result.customer_reference} is now {result.pseudonym}", highlight=False
    )
    for kind, count in result.erased.items():
        console.print(f"erased {count} {kind}", highlight=False)
    for kind, reason in result.kept.items():
        console.print(f"kept {kind}: {reason}", highlight=False)


@app.command("keygen")
def keygen(
    output: Annotated[
        Path | None,
        typer.Option(
            help="Key file to create. Default: COFLEX_DATA_KEY_FILE, else "
            "data-keys in the user's configuration folder.",
            show_default=False,
        ),
    ] = None,
    print_only: Annotated[
        bool,
        typer.Option(
            "--print", help="Print a new key for COFLEX_DATA_KEYS; write no file."
        ),
    ] = False,
) -> None:
    """Create the data key that encrypts personal data (file mode 0600)."""
    from cryptography.fernet import Fernet

    from coflex.adapters.store import crypto

    if print_only:
        typer.echo(Fernet.generate_key().decode("ascii"))
        return
    path = output or crypto.key_path()
    if path.exists():
        _fail(
            InputError(
                f"data key file {path} exists: keep it (it decrypts the stored data) "
                "and use `coflex privacy rotate-key` for a new key",
                value=str(path),
            )
        )
    try:
        crypto.write_key_file(path, [Fernet.generate_key()])
    except CoflexError as error:
        _fail(error)
    console.print(f"wrote {path}; keep a backup of it offline", highlight=False)


@app.command("rotate-key")
def rotate_key(
    drop_old: Annotated[
        bool,
        typer.Option(help="Remove the older keys from the key file afterwards."),
    ] = False,
    by: ActorOption = "operator",
    database: DatabaseOption = None,
) -> None:
    """Add a new data key and re-encrypt every stored personal-data value with it.

    With COFLEX_DATA_KEYS set, put the new key (from `keygen --print`) first in
    the variable and run this to re-encrypt.
    """
    from coflex.entrypoints.cli_audit import open_store
    from coflex.services import privacy_keys

    _require_keys()
    try:
        with open_store(database) as factory:
            result = privacy_keys.rotate_keys(
                factory, actor=by, at=datetime.now(UTC), drop_old=drop_old
            )
    except CoflexError as error:
        _fail(error)
        return
    where = result.key_file or "COFLEX_DATA_KEYS"
    console.print(
        f"re-encrypted {result.rows_reencrypted} rows with the first key of {where}; "
        f"{result.keys_kept} key(s) configured",
        highlight=False,
    )
