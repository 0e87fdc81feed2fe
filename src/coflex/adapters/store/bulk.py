"""Bulk writes for fleet-sized batches, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from coflex.adapters.store.models import Base

CHUNK_ROWS = 5_000


def _chunks(
    rows: Sequence[dict[str, Any]], size: int
) -> Iterable[Sequence[dict[str, Any]]]:
    for first in range(0, len(rows), size):
        yield rows[first : first + size]


def insert_rows(
    session: Session, model: type[Base], rows: Sequence[dict[str, Any]]
) -> None:
    """Insert many rows with executemany, in chunks."""
    for chunk in _chunks(rows, CHUNK_ROWS):
        session.execute(insert(model), list(chunk))


def insert_returning_ids(
    session: Session, model: type[Base], rows: Sequence[dict[str, Any]]
) -> list[int]:
    """Insert many rows and return their new primary keys in input order."""
    table = model.__table__
    ids: list[int] = []
    for chunk in _chunks(rows, CHUNK_ROWS):
        statement = insert(table).returning(table.c.id, sort_by_parameter_order=True)
        ids.extend(session.scalars(statement, list(chunk)).all())
    return ids
