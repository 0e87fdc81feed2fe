"""`coflex records`: regulator export bundles, retention, legal holds and the purge."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from coflex.entrypoints.cli import DatabaseOption, _fail, console, errors
from coflex.entrypoints.cli_complaints import AtOption, ByOption, parse_at, run_step
from coflex.errors import CoflexError

app = typer.Typer(
    help="Record keeping: export bundles, retention and legal holds.",
    no_args_is_help=True,
)

KeyOption = Annotated[
    Path | None,
    typer.Option(
        "--signing-key",
        help="Ed25519 private key file outside the repository. "
        "Default: COFLEX_SIGNING_KEY or COFLEX_SIGNING_KEY_FILE.",
        show_default=False,
    ),
]


@app.command("keygen")
def keygen(
    output: Annotated[Path, typer.Option(help="New key file, outside the repository.")],
) -> None:
    """Create an Ed25519 signing key (file mode 0600) and print its fingerprint."""
    from coflex.adapters import signing

    try:
        print_ = signing.generate_key(output)
    except CoflexError as error:
        _fail(error)
        return
    public = signing.public_path(output)
    console.print(
        f"wrote {output} and its public key {public} (SHA-256 {print_}); file the "
        "public key with the regulator",
        highlight=False,
    )


@app.command("export")
def export(
    output: Annotated[Path, typer.Option(help="New or empty folder for the bundle.")],
    customer: Annotated[
        str | None, typer.Option(help="Customer reference, e.g. A1-C000001.")
    ] = None,
    event: Annotated[int | None, typer.Option(help="Event id.")] = None,
    start: Annotated[
        str | None, typer.Option("--from", help="Range start, ISO 8601 with offset.")
    ] = None,
    end: Annotated[
        str | None, typer.Option("--to", help="Range end, ISO 8601 with offset.")
    ] = None,
    signing_key: KeyOption = None,
    database: DatabaseOption = None,
) -> None:
    """Write a signed bundle of the records of a customer, an event or a date range."""
    from coflex.adapters import signing
    from coflex.services import records_export

    first = parse_at(start) if start else None
    last = parse_at(end) if end else None
    try:
        key = signing.load_private_key(signing_key)
    except CoflexError as error:
        _fail(error)
        return

    def step(session):  # type: ignore[no-untyped-def]
        scope = records_export.resolve_scope(
            session, customer_ref=customer, event_id=event, start=first, end=last
        )
        return records_export.export_bundle(session, scope, output, key)

    manifest = run_step(database, step)
    total = sum(entry["records"] for entry in manifest["files"])
    console.print(
        f"wrote {len(manifest['files'])} files with {total} records to {output}; "
        f"signed by key {manifest['signing_key_sha256']}",
        highlight=False,
    )


@app.command("verify")
def verify(
    folder: Path,
    public_key: Annotated[
        Path | None,
        typer.Option(
            help="The aggregator's filed public key (PEM), as `records keygen` "
            "wrote it."
        ),
    ] = None,
    fingerprint: Annotated[
        str | None,
        typer.Option(help="SHA-256 fingerprint of the filed public key, instead."),
    ] = None,
) -> None:
    """Check a bundle offline: the manifest signature and every file's SHA-256.

    The signature proves who made the bundle only against a key the checker
    already trusts, so either the filed public key or its fingerprint is
    required: a forger can re-sign a bundle with a key of their own.
    """
    from coflex.services import records_export

    if public_key is None and fingerprint is None:
        errors.print(
            "error: give --public-key FILE or --fingerprint SHA256 with the "
            "aggregator's filed key: the key inside a bundle proves nothing about "
            "who signed it",
            highlight=False,
        )
        raise typer.Exit(2)
    pem = public_key.read_bytes() if public_key else None
    try:
        check = records_export.verify_bundle(folder, pem)
    except CoflexError as error:
        _fail(error)
        return
    for problem in check.problems:
        console.print(f"FAIL {problem}", highlight=False)
    if fingerprint is not None and check.fingerprint != fingerprint.strip().lower():
        console.print(
            f"FAIL signed by key {check.fingerprint}, "
            f"not by the filed key {fingerprint}",
            highlight=False,
        )
        raise typer.Exit(1)
    if not check.valid:
        raise typer.Exit(1)
    console.print(
        f"bundle valid: {check.files_checked} files, signed by key {check.fingerprint}",
        highlight=False,
    )


@app.command("hold")
def hold(
    scope: Annotated[str, typer.Argument(help="customer or event.")],
    scope_id: Annotated[int, typer.Argument(help="Customer or event id.")],
    reason: Annotated[str, typer.Option(help="Why the records must be kept.")],
    by: ByOption = "operator",
    at: AtOption = None,
    database: DatabaseOption = None,
) -> None:
    """Place a legal hold: the records are kept past their retention date."""
    from coflex.services import records

    when = parse_at(at)
    hold_id = run_step(
        database, lambda s: records.place_hold(s, scope, scope_id, reason, by, when)
    )
    console.print(f"legal hold {hold_id} placed on {scope} {scope_id}")


@app.command("release")
def release(
    hold_id: int,
    by: ByOption = "operator",
    at: AtOption = None,
    database: DatabaseOption = None,
) -> None:
    """Release a legal hold."""
    from coflex.services import records

    when = parse_at(at)
    run_step(database, lambda s: records.release_hold(s, hold_id, by, when))
    console.print(f"legal hold {hold_id} released")


@app.command("purge")
def purge(
    report: Annotated[
        Path | None,
        typer.Option(help="Write the purge report (JSON) to this file."),
    ] = None,
    by: ByOption = "operator",
    at: AtOption = None,
    database: DatabaseOption = None,
) -> None:
    """Purge personal records whose retention has ended, except those on hold."""
    from coflex.services import records

    when = parse_at(at)
    result = run_step(database, lambda s: records.purge_expired(s, when, by))
    if report is not None:
        document = {
            "purged_at": when.isoformat(),
            "by": by,
            "customers": result.report,
        }
        report.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    for entry in result.report:
        rows = sum(entry["rows"].values())
        console.print(
            f"{entry['customer']}: {entry['action']} (retention ended "
            f"{entry['retain_until']}, {rows} rows)",
            highlight=False,
        )
    console.print(
        f"purged {len(result.purged)} customers; kept {len(result.held_skipped)} "
        "on legal hold" + (f"; wrote {report}" if report else ""),
    )


@app.command("schedule")
def schedule(at: AtOption = None, database: DatabaseOption = None) -> None:
    """Print what the purge does to each record kind and each customer's date."""
    from rich.table import Table

    from coflex.domain.administration.retention import RECORD_KINDS
    from coflex.services import records

    kinds = Table("record kind", "table", "at purge")
    for kind, table, action in RECORD_KINDS:
        kinds.add_row(kind, table, action)
    console.print(kinds)
    when = parse_at(at)
    items = run_step(database, lambda s: records.retention_schedule(s, when))
    customers = Table("customer", "contract ended", "retain until", "status")
    for item in items:
        status = ""
        if item.purged:
            status = "purged"
        elif item.held:
            status = "legal hold"
        until = item.retain_until.date().isoformat() if item.retain_until else ""
        ended = item.contract_ended_at
        customers.add_row(
            item.reference,
            ended.date().isoformat() if ended else "running",
            until or "while the contract runs",
            status,
        )
    console.print(customers)
