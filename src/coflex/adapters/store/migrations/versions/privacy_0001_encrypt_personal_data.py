"""Encrypt personal data at rest and add the postal address and email lookup hash

Revision ID: privacy_0001
Revises: web_0001, enrollment_0001

Widens the personal-data columns to text (a Fernet token is about 100 bytes
longer than its plain text, base64-encoded) and encrypts the rows already
stored with the data key. A database with rows to encrypt needs the key
configured before this runs: COFLEX_DATA_KEYS or the key file.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from coflex.adapters.store import crypto

revision = "privacy_0001"
# It encrypts columns of the accounts and contract tables, so it follows the
# revisions that create them.
down_revision = ("web_0001", "enrollment_0001")
branch_labels = ("privacy",)
depends_on = None

# The column widths before this migration, restored by the downgrade.
_PLAIN_WIDTHS = {
    "customers": {"name": 200, "email": 200, "phone": 32},
    "accounts": {"display_name": 200},
    "contract_transitions": {"actor": 200},
    "contract_acceptances": {"accepted_by": 200, "ip_address": 64},
    "contract_terminations": {"requested_by": 200},
}
_NOT_NULL = {("customers", "name"), ("accounts", "display_name")}
_NOT_NULL |= {
    ("contract_acceptances", "accepted_by"),
    ("contract_transitions", "actor"),
}
_NOT_NULL |= {("contract_terminations", "requested_by")}


def upgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        batch.add_column(sa.Column("postal_address", sa.Text(), nullable=True))
        batch.add_column(sa.Column("email_hmac", sa.String(length=64), nullable=True))
        batch.create_index("ix_customers_email_hmac", ["email_hmac"])
    for table, widths in _PLAIN_WIDTHS.items():
        with op.batch_alter_table(table) as batch:
            for column, width in widths.items():
                batch.alter_column(
                    column,
                    type_=sa.Text(),
                    existing_type=sa.String(length=width),
                    existing_nullable=(table, column) not in _NOT_NULL,
                )
    bind = op.get_bind()
    crypto.transform_stored(bind, crypto.encrypt)
    crypto.rehash_emails(bind)


def downgrade() -> None:
    bind = op.get_bind()
    crypto.transform_stored(bind, crypto.decrypt)
    for table, widths in _PLAIN_WIDTHS.items():
        with op.batch_alter_table(table) as batch:
            for column, width in widths.items():
                batch.alter_column(
                    column,
                    type_=sa.String(length=width),
                    existing_type=sa.Text(),
                    existing_nullable=(table, column) not in _NOT_NULL,
                )
    with op.batch_alter_table("customers") as batch:
        batch.drop_index("ix_customers_email_hmac")
        batch.drop_column("email_hmac")
        batch.drop_column("postal_address")
