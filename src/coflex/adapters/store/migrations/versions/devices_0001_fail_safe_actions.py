"""Record fail-safe actions of the device protocol adapters

Revision ID: devices_0001
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "devices_0001"
down_revision = "0001"
branch_labels = ("devices",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "fail_safe_actions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("fault", sa.String(length=48), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(["device_id"], ["devices.id"]),
        sa.ForeignKeyConstraint(["event_id"], ["events.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("fail_safe_actions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_fail_safe_actions_event_id"), ["event_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("fail_safe_actions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_fail_safe_actions_event_id"))
    op.drop_table("fail_safe_actions")
