"""Store upstream OpenADR 2.0b events and the OpenADR 3.1 VTN's objects

Revision ID: openadr_0001
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "openadr_0001"
down_revision = "0001"
branch_labels = ("openadr",)
depends_on = None


def _when(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "openadr2_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("vtn_id", sa.String(length=128), nullable=False),
        sa.Column("ven_id", sa.String(length=128), nullable=False),
        sa.Column("vtn_event_id", sa.String(length=128), nullable=False),
        sa.Column("modification_number", sa.Integer(), nullable=False),
        sa.Column("event_status", sa.String(length=16), nullable=False),
        sa.Column("signal_name", sa.String(length=64), nullable=False),
        sa.Column("signal_type", sa.String(length=32), nullable=False),
        sa.Column("signal_value", sa.Float(), nullable=True),
        _when("created_at"),
        _when("received_at"),
        _when("start"),
        _when("end"),
        sa.Column("notice_given_s", sa.Float(), nullable=False),
        sa.Column("notice_received_s", sa.Float(), nullable=False),
        sa.Column("target_kw", sa.Float(), nullable=True),
        sa.Column("opt", sa.String(length=8), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["event_id"], ["events.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("vtn_id", "vtn_event_id", "modification_number"),
    )
    op.create_table(
        "openadr_rejections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("protocol", sa.String(length=8), nullable=False),
        sa.Column("peer", sa.String(length=200), nullable=True),
        sa.Column("kind", sa.String(length=48), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("detail", sa.String(length=500), nullable=False),
        _when("received_at"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "oa3_clients",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.String(length=128), nullable=False),
        sa.Column("secret_hash", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=8), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=True),
        _when("created_at"),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("client_id"),
    )
    op.create_table(
        "oa3_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=128), nullable=False),
        sa.Column("scopes", sa.String(length=300), nullable=False),
        _when("issued_at"),
        _when("expires_at"),
        sa.ForeignKeyConstraint(["client_id"], ["oa3_clients.client_id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_sha256"),
    )
    _create_objects()
    op.create_table(
        "oa3_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subscription_id", sa.String(length=36), nullable=False),
        sa.Column("object_type", sa.String(length=16), nullable=False),
        sa.Column("operation", sa.String(length=8), nullable=False),
        sa.Column("object_id", sa.String(length=36), nullable=False),
        sa.Column("callback_url", sa.String(length=500), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.String(length=300), nullable=True),
        _when("created_at"),
        _when("delivered_at", nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("oa3_deliveries", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_oa3_deliveries_subscription_id"),
            ["subscription_id"],
            unique=False,
        )


def _create_objects() -> None:
    op.create_table(
        "oa3_objects",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("object_type", sa.String(length=16), nullable=False),
        sa.Column("client_id", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=True),
        sa.Column("program_id", sa.String(length=36), nullable=True),
        sa.Column("event_id", sa.String(length=36), nullable=True),
        sa.Column("ven_id", sa.String(length=36), nullable=True),
        sa.Column("targets", sa.JSON(), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        _when("created_at"),
        _when("modified_at"),
        sa.Column("coflex_event_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["coflex_event_id"], ["events.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("oa3_objects", schema=None) as batch_op:
        batch_op.create_index(
            "ix_oa3_objects_type_client", ["object_type", "client_id"], unique=False
        )
        batch_op.create_index(
            "ix_oa3_objects_type_program", ["object_type", "program_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("oa3_deliveries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_oa3_deliveries_subscription_id"))
    op.drop_table("oa3_deliveries")
    with op.batch_alter_table("oa3_objects", schema=None) as batch_op:
        batch_op.drop_index("ix_oa3_objects_type_program")
        batch_op.drop_index("ix_oa3_objects_type_client")
    op.drop_table("oa3_objects")
    op.drop_table("oa3_tokens")
    op.drop_table("oa3_clients")
    op.drop_table("openadr_rejections")
    op.drop_table("openadr2_events")
