"""Add program offers, service points, other enrollments, dual-enrollment flags

Sales representatives gain the user account they sign in with and, for third
parties, the agreement under which they sell on the aggregator's behalf.

Revision ID: enrollment_0002
Revises: enrollment_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "enrollment_0002"
down_revision = "enrollment_0001"
branch_labels = None
depends_on = "web_0001"  # sales_representatives.account_id references accounts


def upgrade() -> None:
    op.create_table(
        "program_offers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("program_id", sa.Integer(), nullable=False),
        sa.Column("offer", sa.JSON(), nullable=False),
        sa.Column("stored_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["program_id"], ["programs.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("program_id"),
    )
    op.create_table(
        "site_service_points",
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("service_point_id", sa.String(length=64), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"]),
        sa.PrimaryKeyConstraint("site_id"),
    )
    op.create_index(
        "ix_site_service_points_service_point_id",
        "site_service_points",
        ["service_point_id"],
    )
    op.create_table(
        "other_enrollment_declarations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(length=200), nullable=False),
        sa.Column("service", sa.String(length=64), nullable=False),
        sa.Column("program", sa.String(length=200), nullable=False),
        sa.Column("declared_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("declared_by", sa.String(length=200), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_other_enrollment_declarations_site_id",
        "other_enrollment_declarations",
        ["site_id"],
    )
    op.create_table(
        "dual_enrollment_flags",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("program_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("other_provider", sa.String(length=200), nullable=False),
        sa.Column("detail", sa.String(length=300), nullable=False),
        sa.Column("flagged_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", sa.String(length=200), nullable=True),
        sa.Column("resolution", sa.String(length=300), nullable=True),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"]),
        sa.ForeignKeyConstraint(["program_id"], ["programs.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_dual_enrollment_flags_site_id", "dual_enrollment_flags", ["site_id"]
    )
    with op.batch_alter_table("sales_representatives") as batch:
        batch.add_column(sa.Column("account_id", sa.Integer(), nullable=True))
        batch.add_column(
            sa.Column("agreement_ref", sa.String(length=200), nullable=True)
        )
        batch.create_foreign_key(
            "fk_sales_representatives_account_id", "accounts", ["account_id"], ["id"]
        )
        batch.create_unique_constraint(
            "uq_sales_representatives_account_id", ["account_id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("sales_representatives") as batch:
        batch.drop_constraint("uq_sales_representatives_account_id", type_="unique")
        batch.drop_constraint("fk_sales_representatives_account_id", type_="foreignkey")
        batch.drop_column("agreement_ref")
        batch.drop_column("account_id")
    op.drop_index("ix_dual_enrollment_flags_site_id", "dual_enrollment_flags")
    op.drop_table("dual_enrollment_flags")
    op.drop_index(
        "ix_other_enrollment_declarations_site_id", "other_enrollment_declarations"
    )
    op.drop_table("other_enrollment_declarations")
    op.drop_index("ix_site_service_points_service_point_id", "site_service_points")
    op.drop_table("site_service_points")
    op.drop_table("program_offers")
