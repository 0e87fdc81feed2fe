"""Add event changes and site withdrawals

Revision ID: notices_0001
Revises: web_0001
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "notices_0001"
# site_withdrawals.account_id refers to the accounts table of the web branch.
down_revision = "web_0001"
branch_labels = ("notices",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "event_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=300), nullable=False),
        sa.Column("status_before", sa.String(length=32), nullable=False),
        sa.Column("window_before", sa.JSON(), nullable=False),
        sa.Column("window_after", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(["event_id"], ["events.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_event_changes_event_id", "event_changes", ["event_id"])
    op.create_table(
        "site_withdrawals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=48), nullable=False),
        sa.Column("detail", sa.String(length=300), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"]),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"]),
        sa.ForeignKeyConstraint(["event_id"], ["events.id"]),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_site_withdrawals_event_site", "site_withdrawals", ["event_id", "site_id"]
    )
    op.create_index(
        "ix_site_withdrawals_customer_id", "site_withdrawals", ["customer_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_site_withdrawals_customer_id", table_name="site_withdrawals")
    op.drop_index("ix_site_withdrawals_event_site", table_name="site_withdrawals")
    op.drop_table("site_withdrawals")
    op.drop_index("ix_event_changes_event_id", table_name="event_changes")
    op.drop_table("event_changes")
