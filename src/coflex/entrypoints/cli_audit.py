"""`coflex audit`: check the hash chain of the audit log and anchor its head."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.orm import Session, sessionmaker

from coflex.entrypoints.cli import DatabaseOption, _fail, console, errors
from coflex.errors import CoflexError, KeyConfigError

app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)


@contextmanager
def open_store(database: str | None) -> Iterator[sessionmaker[Session]]:
    """Open and migrate the database and yield a session factory."""
    from coflex.adapters.store.database import (
        default_database_url,
        migrate,
        open_engine,
        session_factory,
    )

    engine = open_engine(database or default_database_url(), must_exist=True)
    try:
        migrate(engine)
        yield session_factory(engine)
    finally:
        engine.dispose()


AnchorsOption = Annotated[
    Path | None,
    typer.Option(
        "--anchors",
        help="Anchors file (JSON lines) outside the database, as `coflex audit "
        "anchor` writes it. Default: COFLEX_AUDIT_ANCHORS.",
        envvar="COFLEX_AUDIT_ANCHORS",
        show_default=False,
    ),
]


@app.command("anchor")
def anchor(
    anchors: AnchorsOption = None,
    signing_key: Annotated[
        Path | None,
        typer.Option(
            "--signing-key",
            help="Ed25519 private key file outside the repository. "
            "Default: COFLEX_SIGNING_KEY or COFLEX_SIGNING_KEY_FILE.",
            show_default=False,
        ),
    ] = None,
    database: DatabaseOption = None,
) -> None:
    """Verify the log and append a signed anchor of its head to the anchors file.

    Run it on a schedule (e.g. hourly from cron) and keep the file on other
    storage than the database.
    """
    from coflex.adapters import signing
    from coflex.services import audit_anchors
    from coflex.services.accounts import utc_now

    if anchors is None:
        errors.print(
            "error: give --anchors FILE or set COFLEX_AUDIT_ANCHORS: the anchors "
            "must live in a file outside the database",
            highlight=False,
        )
        raise typer.Exit(2)
    try:
        key = signing.load_private_key(signing_key)
        with open_store(database) as factory, factory() as session:
            written = audit_anchors.write_anchor(session, anchors, key, utc_now())
    except CoflexError as error:
        _fail(error)
        return
    console.print(
        f"anchored seq {written.seq}, head hash {written.head_hash}, at "
        f"{written.anchored_at} in {anchors}",
        highlight=False,
    )


def _public_key(public_key: Path | None):  # type: ignore[no-untyped-def]
    from coflex.adapters import signing

    if public_key is None:
        return signing.load_private_key().public_key()
    try:
        return signing.load_public_pem(public_key.read_bytes())
    except OSError as exc:
        raise KeyConfigError(
            f"cannot read public key {public_key} ({exc.strerror}): check the path",
            value=str(public_key),
            field="public_key",
        ) from exc


@app.command("verify")
def verify(
    anchors: AnchorsOption = None,
    public_key: Annotated[
        Path | None,
        typer.Option(
            help="The filed public key (PEM) that checks the anchors. Default: "
            "the public half of the configured signing key.",
            show_default=False,
        ),
    ] = None,
    database: DatabaseOption = None,
) -> None:
    """Recompute the hash chain and report the first broken row (exit 1 if any).

    With --anchors, also report a deleted tail, a rewritten row and a forged
    anchor, each with its sequence number.
    """
    if anchors is not None:
        _verify_with_anchors(anchors, public_key, database)
        return
    from coflex.services import audit

    try:
        with open_store(database) as factory, factory() as session:
            report = audit.verify(session)
    except CoflexError as error:
        _fail(error)
        return
    if report.intact:
        console.print(
            f"audit log intact: {report.rows_checked} rows, head seq "
            f"{report.head_seq}, head hash {report.head_hash}"
        )
        return
    console.print(
        f"audit log BROKEN at seq {report.broken_seq}: {report.problem} "
        f"({report.rows_checked} rows before it verify)",
        highlight=False,
    )
    raise typer.Exit(1)


def _verify_with_anchors(
    anchors: Path, public_key: Path | None, database: str | None
) -> None:
    from coflex.services import audit_anchors

    try:
        key = _public_key(public_key)
        with open_store(database) as factory, factory() as session:
            check = audit_anchors.verify_with_anchors(session, anchors, key)
    except CoflexError as error:
        _fail(error)
        return
    for finding in check.findings:
        console.print(f"FAIL {finding.kind}: {finding.message}", highlight=False)
    if not check.intact:
        raise typer.Exit(1)
    console.print(
        f"audit log intact: {check.chain.rows_checked} rows, head seq "
        f"{check.chain.head_seq}, {check.anchors_checked} anchors match",
        highlight=False,
    )
