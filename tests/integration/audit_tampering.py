"""Tampering with the audit log as an attacker with DDL rights could, for tests."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session


def allow_tampering(session: Session) -> None:
    """Remove the append-only triggers of the audit log."""
    if session.get_bind().dialect.name == "sqlite":
        session.execute(text("DROP TRIGGER audit_log_no_update"))
        session.execute(text("DROP TRIGGER audit_log_no_delete"))
    else:
        session.execute(
            text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_change")
        )
