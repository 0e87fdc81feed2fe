"""Add command vetoes and automation documents

Revision ID: operations_0001
Revises: 0001
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "operations_0001"
down_revision = "0001"
branch_labels = ("operations",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "command_vetoes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.Integer(), nullable=False),
        sa.Column("vetoed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rule", sa.String(length=48), nullable=False),
        sa.Column("detail", sa.String(length=300), nullable=False),
        sa.Column("policy_version", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(["device_id"], ["devices.id"]),
        sa.ForeignKeyConstraint(["event_id"], ["events.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_command_vetoes_event_id", "command_vetoes", ["event_id"])
    op.create_table(
        "automation_documents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("terms_hash", sa.String(length=64), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("html", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_automation_documents_customer_id", "automation_documents", ["customer_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_automation_documents_customer_id", "automation_documents")
    op.drop_table("automation_documents")
    op.drop_index("ix_command_vetoes_event_id", "command_vetoes")
    op.drop_table("command_vetoes")
