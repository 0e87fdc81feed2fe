"""`coflex audit`: check the hash chain of the audit log."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from sqlalchemy.orm import Session, sessionmaker

from coflex.entrypoints.cli import DatabaseOption, _fail, console
from coflex.errors import CoflexError

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


@app.command("verify")
def verify(database: DatabaseOption = None) -> None:
    """Recompute the hash chain and report the first broken row (exit 1 if any)."""
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
