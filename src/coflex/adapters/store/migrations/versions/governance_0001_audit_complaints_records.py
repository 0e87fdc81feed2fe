"""Add the audit log, complaints, registrations, legal holds, plans, privacy requests

Revision ID: governance_0001
Revises: 0001
Create Date: 2026-12-05 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "governance_0001"
down_revision = "0001"
branch_labels = ("governance",)
depends_on = None

# The audit log is append-only in the database as well as in the code: these
# triggers reject UPDATE and DELETE, so only a user who can drop a trigger can
# change a row, and the hash chain then shows the change.
_SQLITE_TRIGGERS = [
    """CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
       BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END""",
    """CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
       BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END""",
]
_POSTGRES_TRIGGERS = [
    """CREATE FUNCTION audit_log_append_only() RETURNS trigger AS $$
       BEGIN RAISE EXCEPTION 'audit_log is append-only'; END; $$ LANGUAGE plpgsql""",
    """CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
       FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()""",
]


def _timestamp(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _audit_log() -> None:
    op.create_table(
        "audit_log",
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        _timestamp("at"),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=48), nullable=False),
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("event_id", sa.Integer(), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("row_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("row_hash"),
    )
    op.create_index("ix_audit_customer", "audit_log", ["customer_id"])
    op.create_index("ix_audit_event", "audit_log", ["event_id"])
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        statements = _SQLITE_TRIGGERS
    elif bind.dialect.name == "postgresql":
        statements = _POSTGRES_TRIGGERS
    else:
        statements = []
    for statement in statements:
        op.execute(statement)


def _complaints() -> None:
    op.create_table(
        "complaints",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(length=32), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("jurisdiction", sa.String(length=16), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("logged_by", sa.String(length=64), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        _timestamp("received_at"),
        _timestamp("acknowledge_by"),
        _timestamp("respond_by"),
        _timestamp("escalation_from"),
        _timestamp("acknowledged_at", True),
        _timestamp("deadlocked_at", True),
        _timestamp("resolved_at", True),
        _timestamp("escalated_at", True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.String(length=24), nullable=True),
        sa.Column("response", sa.Text(), nullable=True),
        sa.Column("final_letter", sa.Text(), nullable=True),
        sa.Column("event_id", sa.Integer(), nullable=True),
        sa.Column("statement_id", sa.Integer(), nullable=True),
        sa.Column("baseline_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["baseline_id"], ["baselines.id"]),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"]),
        sa.ForeignKeyConstraint(["event_id"], ["events.id"]),
        sa.ForeignKeyConstraint(["statement_id"], ["statements.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("reference"),
    )
    op.create_index("ix_complaints_customer_id", "complaints", ["customer_id"])
    op.create_table(
        "complaint_reminders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("complaint_id", sa.Integer(), nullable=False),
        sa.Column("deadline", sa.String(length=24), nullable=False),
        _timestamp("due_at"),
        _timestamp("sent_at"),
        sa.ForeignKeyConstraint(["complaint_id"], ["complaints.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("complaint_id", "deadline"),
    )


def _governance() -> None:
    op.create_table(
        "registrations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("aggregator_id", sa.Integer(), nullable=False),
        sa.Column("jurisdiction", sa.String(length=16), nullable=False),
        sa.Column("authority", sa.String(length=200), nullable=False),
        sa.Column("number", sa.String(length=64), nullable=False),
        sa.Column("scope", sa.String(length=200), nullable=False),
        _timestamp("valid_from"),
        _timestamp("expires_at"),
        _timestamp("revoked_at", True),
        sa.ForeignKeyConstraint(["aggregator_id"], ["aggregators.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "legal_holds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("scope_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=300), nullable=False),
        sa.Column("placed_by", sa.String(length=64), nullable=False),
        _timestamp("placed_at"),
        _timestamp("released_at", True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "compliance_plans",
        sa.Column("id", sa.Integer(), nullable=False),
        _timestamp("filed_at"),
        sa.Column("filed_by", sa.String(length=64), nullable=False),
        sa.Column("config_hash", sa.String(length=64), nullable=False),
        sa.Column("configuration", sa.JSON(), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "privacy_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        _timestamp("received_at"),
        _timestamp("completed_at", True),
        sa.Column("outcome", sa.String(length=300), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_privacy_requests_customer_id", "privacy_requests", ["customer_id"]
    )
    with op.batch_alter_table("consents") as batch:
        batch.add_column(sa.Column("recipient", sa.String(length=200), nullable=True))


def upgrade() -> None:
    _audit_log()
    _complaints()
    _governance()


def downgrade() -> None:
    with op.batch_alter_table("consents") as batch:
        batch.drop_column("recipient")
    for table in (
        "privacy_requests",
        "compliance_plans",
        "legal_holds",
        "registrations",
        "complaint_reminders",
        "complaints",
    ):
        op.drop_table(table)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_change ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS audit_log_append_only()")
    op.drop_table("audit_log")
