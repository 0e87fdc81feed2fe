"""Opening the coflex database and applying its migrations.

SQLite is the embedded default; PostgreSQL is the production database. Both run
the same SQLAlchemy models and the same Alembic migrations.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from platformdirs import user_data_dir
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from coflex.errors import StoreError

logger = logging.getLogger(__name__)

DATABASE_ENV = "COFLEX_DATABASE_URL"
_STORE_DIR = Path(__file__).resolve().parent


def default_database_url() -> str:
    """Return the database URL from the environment, else the embedded SQLite file."""
    from_env = os.environ.get(DATABASE_ENV)
    if from_env:
        return from_env
    path = Path(user_data_dir("coflex")) / "coflex.sqlite"
    return f"sqlite:///{path}"


def _normalise_url(url: str) -> str:
    """Use the psycopg 3 driver for plain ``postgresql://`` URLs."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def _enable_sqlite_foreign_keys(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):  # type: ignore[no-untyped-def]
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()


def open_engine(url: str, *, must_exist: bool = False) -> Engine:
    """Create an engine for ``url`` and check that the database answers.

    With ``must_exist``, a SQLite file that is not there is an error instead of
    a new empty database, so a mistyped path cannot pass for an empty store.

    Raises
    ------
    StoreError
        If the URL is malformed or the database cannot be reached.
    """
    try:
        parsed = make_url(_normalise_url(url))
        parsed.port  # noqa: B018 - a non-numeric port raises ValueError here
    except (ArgumentError, ValueError) as exc:
        raise StoreError(
            f"invalid database URL {url!r}: use sqlite:///PATH or "
            "postgresql://USER@HOST:PORT/DATABASE",
            value=url,
        ) from exc

    if parsed.get_backend_name() == "sqlite" and parsed.database:
        path = Path(parsed.database).expanduser()
        if must_exist and not path.exists():
            raise StoreError(
                f"database file {path} not found: give the --database of an existing "
                "coflex database, or create one with coflex demo or coflex db upgrade",
                value=str(path),
            )
        path.parent.mkdir(parents=True, exist_ok=True)
    try:
        engine = create_engine(parsed, pool_pre_ping=True)
    except (ImportError, ArgumentError, ValueError) as exc:
        raise StoreError(
            f"unusable database URL {url!r} ({exc}): coflex supports "
            "sqlite:///PATH and postgresql://USER@HOST:PORT/DATABASE",
            value=url,
        ) from exc
    if parsed.get_backend_name() == "sqlite":
        _enable_sqlite_foreign_keys(engine)

    try:
        with engine.connect():
            pass
    except (OperationalError, SQLAlchemyError) as exc:
        shown = parsed.render_as_string(hide_password=True)
        reason = str(exc.orig if hasattr(exc, "orig") else exc).strip().splitlines()[0]
        raise StoreError(
            f"cannot reach the database {shown} ({reason}): start the server or "
            f"give another --database URL",
            value=shown,
        ) from exc
    return engine


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_STORE_DIR / "migrations"))
    config.attributes["connection_engine"] = engine
    return config


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision."""
    config = alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "heads")
    logger.info("database schema is at the newest revision")


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """Run one step in a single transaction: stored whole or not at all."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
