"""Add claims, material, sales, enrollment documents and the contract record

Draft and offered contracts have no acceptance time or cooling-off end yet, so
those two columns of ``contracts`` become nullable.

Revision ID: enrollment_0001
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "enrollment_0001"
down_revision = "0001"
branch_labels = ("enrollment",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "claims",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("statement", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("unit", sa.String(length=32), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("method", sa.Text(), nullable=False),
        sa.Column("assumptions", sa.Text(), nullable=False),
        sa.Column("population", sa.String(length=300), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("expires_on", sa.Date(), nullable=False),
        sa.Column("risk_statement", sa.Text(), nullable=True),
        sa.Column("reviewer", sa.String(length=200), nullable=True),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("withdrawn_reason", sa.String(length=300), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "materials",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("withdrawn_reason", sa.String(length=300), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name", "version"),
    )
    op.create_table(
        "sales_representatives",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("employer", sa.String(length=200), nullable=False),
        sa.Column("third_party", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "material_claims",
        sa.Column("material_id", sa.Integer(), nullable=False),
        sa.Column("claim_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["claim_id"],
            ["claims.id"],
        ),
        sa.ForeignKeyConstraint(
            ["material_id"],
            ["materials.id"],
        ),
        sa.PrimaryKeyConstraint("material_id", "claim_id"),
    )
    op.create_table(
        "sales_trainings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("representative_id", sa.Integer(), nullable=False),
        sa.Column("course", sa.String(length=200), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("certified_by", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["representative_id"],
            ["sales_representatives.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_sales_trainings_representative_id"),
        "sales_trainings",
        ["representative_id"],
        unique=False,
    )
    op.create_table(
        "contact_flags",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("set_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cleared_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.String(length=300), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_contact_flags_customer_id"),
        "contact_flags",
        ["customer_id"],
        unique=False,
    )
    op.create_table(
        "sales_interactions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("representative_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("material_id", sa.Integer(), nullable=True),
        sa.Column("material_hash", sa.String(length=64), nullable=True),
        sa.Column("told", sa.Text(), nullable=False),
        sa.Column("answered", sa.Text(), nullable=False),
        sa.Column("sale", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
        ),
        sa.ForeignKeyConstraint(
            ["material_id"],
            ["materials.id"],
        ),
        sa.ForeignKeyConstraint(
            ["representative_id"],
            ["sales_representatives.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_sales_interactions_customer_id"),
        "sales_interactions",
        ["customer_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_sales_interactions_representative_id"),
        "sales_interactions",
        ["representative_id"],
        unique=False,
    )
    op.create_table(
        "contract_acceptances",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contract_id", sa.Integer(), nullable=False),
        sa.Column("accepted_by", sa.String(length=200), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("ip_address", sa.String(length=64), nullable=True),
        sa.Column("user_agent", sa.String(length=300), nullable=True),
        sa.Column("recording_ref", sa.String(length=200), nullable=True),
        sa.Column("document_hashes", sa.JSON(), nullable=False),
        sa.Column("cooling_off_rule", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["contract_id"],
            ["contracts.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("contract_id"),
    )
    op.create_table(
        "contract_amendments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contract_id", sa.Integer(), nullable=False),
        sa.Column("terms", sa.JSON(), nullable=False),
        sa.Column("terms_hash", sa.String(length=64), nullable=False),
        sa.Column("notified_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("effective_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["contract_id"],
            ["contracts.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_contract_amendments_contract_id"),
        "contract_amendments",
        ["contract_id"],
        unique=False,
    )
    op.create_table(
        "contract_transitions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contract_id", sa.Integer(), nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=True),
        sa.Column("to_status", sa.String(length=16), nullable=False),
        sa.Column("action", sa.String(length=24), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("detail", sa.String(length=300), nullable=True),
        sa.ForeignKeyConstraint(
            ["contract_id"],
            ["contracts.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_contract_transitions_contract_id"),
        "contract_transitions",
        ["contract_id"],
        unique=False,
    )
    op.create_table(
        "enrollment_documents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("contract_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("parameters_hash", sa.String(length=64), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("body_zlib", sa.LargeBinary(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["contract_id"],
            ["contracts.id"],
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_enrollment_documents_contract_id"),
        "enrollment_documents",
        ["contract_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_enrollment_documents_customer_id"),
        "enrollment_documents",
        ["customer_id"],
        unique=False,
    )
    op.create_table(
        "contract_offers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contract_id", sa.Integer(), nullable=False),
        sa.Column("offered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("offered_by", sa.String(length=200), nullable=False),
        sa.Column("proposal_id", sa.Integer(), nullable=False),
        sa.Column("key_facts_id", sa.Integer(), nullable=False),
        sa.Column("terms_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["contract_id"],
            ["contracts.id"],
        ),
        sa.ForeignKeyConstraint(
            ["key_facts_id"],
            ["enrollment_documents.id"],
        ),
        sa.ForeignKeyConstraint(
            ["proposal_id"],
            ["enrollment_documents.id"],
        ),
        sa.ForeignKeyConstraint(
            ["terms_id"],
            ["enrollment_documents.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("contract_id"),
    )
    op.create_table(
        "contract_terminations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contract_id", sa.Integer(), nullable=False),
        sa.Column("terminated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("requested_by", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.String(length=300), nullable=False),
        sa.Column("exit_fee", sa.Float(), nullable=False),
        sa.Column("devices_released_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("final_statement_id", sa.Integer(), nullable=False),
        sa.Column("retain_until", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(
            ["contract_id"],
            ["contracts.id"],
        ),
        sa.ForeignKeyConstraint(
            ["final_statement_id"],
            ["enrollment_documents.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("contract_id"),
    )
    with op.batch_alter_table("contracts") as batch:
        for column in ("accepted_at", "cooling_off_ends_at"):
            batch.alter_column(
                column, existing_type=sa.DateTime(timezone=True), nullable=True
            )


def downgrade() -> None:
    with op.batch_alter_table("contracts") as batch:
        for column in ("accepted_at", "cooling_off_ends_at"):
            batch.alter_column(
                column, existing_type=sa.DateTime(timezone=True), nullable=False
            )
    op.drop_table("contract_terminations")
    op.drop_table("contract_offers")
    op.drop_index(
        op.f("ix_enrollment_documents_customer_id"), table_name="enrollment_documents"
    )
    op.drop_index(
        op.f("ix_enrollment_documents_contract_id"), table_name="enrollment_documents"
    )
    op.drop_table("enrollment_documents")
    op.drop_index(
        op.f("ix_contract_transitions_contract_id"), table_name="contract_transitions"
    )
    op.drop_table("contract_transitions")
    op.drop_index(
        op.f("ix_contract_amendments_contract_id"), table_name="contract_amendments"
    )
    op.drop_table("contract_amendments")
    op.drop_table("contract_acceptances")
    op.drop_index(
        op.f("ix_sales_interactions_representative_id"), table_name="sales_interactions"
    )
    op.drop_index(
        op.f("ix_sales_interactions_customer_id"), table_name="sales_interactions"
    )
    op.drop_table("sales_interactions")
    op.drop_index(op.f("ix_contact_flags_customer_id"), table_name="contact_flags")
    op.drop_table("contact_flags")
    op.drop_index(
        op.f("ix_sales_trainings_representative_id"), table_name="sales_trainings"
    )
    op.drop_table("sales_trainings")
    op.drop_table("material_claims")
    op.drop_table("sales_representatives")
    op.drop_table("materials")
    op.drop_table("claims")
